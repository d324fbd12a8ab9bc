import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { FlotillaError } from '@flotilla/protocol';
import { ERROR_STATUS } from './error-status.ts';
import { sendRawJson } from './respond.ts';
import type { Router } from './router.ts';

export interface HttpServerOptions {
  readonly log: Logger;
  /** The longest long-poll the routes hold; the socket timeouts outlast it. */
  readonly maxWaitSeconds: number;
  /** Runs before routing: gives a request carrying a dashboard session its credentials, or refuses it (docs/dashboard.md). */
  readonly authorize?: (req: IncomingMessage) => void;
  /**
   * What a failure of the store itself (a full disk, a lock held elsewhere) answers: the
   * `STORE_UNAVAILABLE` refusal, logged once per outage by its owner; undefined for any other error.
   */
  readonly storeError?: (error: unknown) => FlotillaError | undefined;
  /** Told of every answered request, by its route pattern (`unmatched` when no route matched); the metrics feature. */
  readonly requests?: { requestDone(method: string, route: string, status: number, seconds: number): void };
}

/**
 * The hub's HTTP server over a router. Every error leaves through `fail`: a FlotillaError
 * becomes its status and `{ error: { code, message } }`; anything else is a bug, logged and
 * answered 500 without internals.
 */
export function createHttpServer(router: Router, options: HttpServerOptions): Server {
  const log = options.log.child({ component: 'http' });

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown): void => {
    const store = options.storeError?.(error);
    const known = store ?? (error instanceof FlotillaError ? error : undefined);
    const status = known === undefined ? 500 : ERROR_STATUS[known.code];
    if (store !== undefined)
      log.debug({ method: req.method, path: req.url?.split('?')[0] }, 'write refused: store unavailable');
    else if (known === undefined || status >= 500)
      log.error({ err: error, method: req.method, url: req.url }, 'request failed');
    else log.info({ method: req.method, path: req.url?.split('?')[0], status, code: known.code }, 'request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = known?.toResponse() ?? {
      error: { code: 'INTERNAL', message: 'the hub failed to handle this request; the error is in its log' },
    };
    const retryAfter = known?.details?.['retryAfterSeconds'];
    // A refused request may have an unread body; close the connection rather than read it.
    sendRawJson(res, status, JSON.stringify(body), {
      ...(req.complete ? {} : { connection: 'close' }),
      ...(typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {}),
    });
  };

  const requests = options.requests;
  const server = createServer((req, res) => {
    let route = 'unmatched';
    if (requests !== undefined) {
      const start = performance.now();
      // 'finish': a response sent; a client that went away first is not a request answered.
      res.once('finish', () =>
        requests.requestDone(req.method ?? 'GET', route, res.statusCode, (performance.now() - start) / 1000),
      );
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    try {
      options.authorize?.(req);
      const { handler, params, route: matched } = router.match(req.method ?? 'GET', path);
      route = matched;
      const result = handler({ req, res, params, query, remote: req.socket.remoteAddress ?? 'unknown' });
      if (result instanceof Promise) result.catch((error: unknown) => fail(req, res, error));
    } catch (error) {
      fail(req, res, error);
    }
  });
  // Long-polls hold requests open; the socket timeouts must outlast the longest wait.
  server.requestTimeout = (options.maxWaitSeconds + 30) * 1000;
  server.keepAliveTimeout = 75_000;
  server.headersTimeout = 60_000;
  return server;
}
