import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * The dashboard's Content-Security-Policy: everything from the hub itself, no inline script
 * or style, no third party, no framing. The built page needs nothing more.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every page and asset the dashboard serves. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt']);

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly etag: string;
}

const MISSING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla dashboard not built</title></head>
<body><main><h1>The Flotilla dashboard is not built</h1>
<p>This hub serves its API, but the dashboard's files are missing from <code>packages/dashboard/dist</code>.</p>
<p>Build them with <code>npm run build -w @flotilla/dashboard</code> (a fresh <code>npm ci</code> does it), then reload this page.</p>
<p>The API answers at <code>/v1/</code> meanwhile; see docs/api.md.</p></main></body></html>
`;

/**
 * The built dashboard (Vite's `dist/`), read into memory once: `index.html` for every page
 * route and the content-hashed files under `assets/`, gzip-compressed ahead of time. When the
 * folder is missing the hub still runs and every page explains how to build it.
 */
export class StaticAssets {
  private readonly files = new Map<string, Asset>();
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    if (!existsSync(join(dir, 'index.html'))) return;
    this.load(dir, '');
  }

  /** Whether the built dashboard was found. */
  get built(): boolean {
    return this.files.has('index.html');
  }

  private load(dir: string, prefix: string): void {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        this.load(path, `${prefix}${name}/`);
        continue;
      }
      const ext = extname(name);
      const type = TYPES[ext];
      if (type === undefined) continue;
      const body = readFileSync(path);
      this.files.set(`${prefix}${name}`, {
        type,
        body,
        gzip: COMPRESSIBLE.has(ext) ? gzipSync(body, { level: 9 }) : undefined,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      });
    }
  }

  /** Answers the page shell, or the explanation of how to build it. */
  sendPage(req: IncomingMessage, res: ServerResponse): void {
    const index = this.files.get('index.html');
    if (index === undefined) {
      res.writeHead(503, {
        ...SECURITY_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(MISSING_PAGE),
      });
      res.end(req.method === 'HEAD' ? undefined : MISSING_PAGE);
      return;
    }
    this.send(req, res, index, 'no-cache');
  }

  /** Answers one file under `assets/`; false when there is no such file. */
  sendAsset(req: IncomingMessage, res: ServerResponse, name: string): boolean {
    const asset = this.files.get(`assets/${name}`);
    if (asset === undefined) return false;
    // Vite names files by content hash: a name never changes its content.
    this.send(req, res, asset, 'public, max-age=31536000, immutable');
    return true;
  }

  private send(req: IncomingMessage, res: ServerResponse, asset: Asset, cacheControl: string): void {
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'cache-control': cacheControl,
      etag: asset.etag,
      vary: 'accept-encoding',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = asset.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip : asset.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
