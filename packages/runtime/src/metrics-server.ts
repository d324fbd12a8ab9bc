import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface MetricsServerOptions {
  /** 0 for any free port. */
  readonly port: number;
  /** Default: every address, as for the health endpoint, since Prometheus scrapes the pod's IP. */
  readonly host?: string;
  readonly scrape: () => Promise<{ readonly contentType: string; readonly body: string }>;
  readonly log: Logger;
}

export interface MetricsServer {
  /** `http://host:port/metrics` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `GET /metrics` on a listener of its own, without authentication: Prometheus scrapes it
 * like any exporter, and the hub's API port stays token-only. It holds counts by
 * low-cardinality labels, never a target id, token or key; who may reach the port is the
 * network's call (a NetworkPolicy admitting the monitoring namespace; docs/operations.md).
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const log = options.log.child({ component: 'metrics' });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    options.scrape().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        log.error({ err: error }, 'collecting metrics failed');
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end('collecting metrics failed; the error is in the log\n');
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
