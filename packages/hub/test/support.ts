import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { openHub, type OpenedHub } from '../src/open-hub.ts';

export interface TestHub {
  readonly url: string;
  readonly opened: OpenedHub;
  readonly adminToken: string;
  readonly dataDir: string;
  /** Moves the hub's clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

/** A real hub on a temporary data directory and a loopback port, with a clock the test moves. */
export async function startTestHub(): Promise<TestHub> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-hub-test-'));
  let offset = 0;
  const opened = await openHub({ dataDir: join(dir, 'hub'), log: pino({ level: 'silent' }), clock: () => Date.now() + offset });
  const url = await opened.hub.listen(0);
  return {
    url,
    opened,
    adminToken: opened.createdAdminToken!,
    dataDir: join(dir, 'hub'),
    advance(ms) {
      offset += ms;
    },
    async close() {
      await opened.hub.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function call(url: string, method: string, path: string, options: { token?: string; body?: string; contentType?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await request(`${url}${path}`, { method: method as 'GET', headers, ...(options.body === undefined ? {} : { body: options.body }) });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.statusCode, body };
}
