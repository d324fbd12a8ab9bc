import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { messageOf } from '@flotilla/protocol';

/** What the health endpoint asks the agent. */
export interface HealthCheck {
  /** False only when the process should be restarted. */
  live(): boolean;
  /** True when the agent does its part: it leads and is enrolled, or it stands by and sees the Lease. */
  ready(): boolean;
  /** A summary for people, served with both answers; it must hold no secret. */
  status(): Record<string, unknown>;
}

export interface HealthServerOptions {
  /** 0 for any free port. */
  readonly port: number;
  /** Default: every address, IPv6 and IPv4 where the host has them, since the kubelet probes the pod's IP. */
  readonly host?: string;
  readonly check: HealthCheck;
}

export interface HealthServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A tiny HTTP endpoint for the kubelet's probes: `GET /healthz` (liveness) and `GET /readyz`
 * (readiness) answer 200 or 503 with a JSON summary; anything else is 404, and methods other
 * than GET and HEAD are 405.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { port, check } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new TypeError(`startHealthServer: port must be a whole number from 0 to 65535, received ${String(port)}`);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const probe = path === '/healthz' ? () => check.live() : path === '/readyz' ? () => check.ready() : undefined;
    if (probe === undefined) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"status":"not found","paths":["/healthz","/readyz"]}\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' })
        .end('{"status":"method not allowed"}\n');
      return;
    }
    let ok: boolean;
    let summary: Record<string, unknown>;
    try {
      ok = probe();
      summary = check.status();
    } catch (error) {
      ok = false;
      summary = { error: messageOf(error) };
    }
    const body = `${JSON.stringify({ status: ok ? 'ok' : path === '/healthz' ? 'failing' : 'not ready', ...summary })}\n`;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
