import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

/**
 * The agent's HTTP/1.1 client, for the hub and the Kubernetes API server: `node:http` and
 * `node:https`, whose parser is native and which the push stream (ws) loads anyway. undici,
 * which the agent used before, parses HTTP in WebAssembly, and compiling that brought V8's
 * WebAssembly engine into every agent: an idle agent holds about 3 MB less without it
 * (docs/operations.md, "Agent memory").
 */

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpClientOptions {
  /** Limit for opening a connection, the TLS handshake included. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Limit from sending a request (on an open connection) to its answer's headers. Default 30 s. */
  readonly headersTimeoutMs?: number;
  /** Limit for the pause between two pieces of an answer's body. Default 30 s. */
  readonly bodyTimeoutMs?: number;
  /** How long an idle connection is kept for the next request. Default 4 s. */
  readonly keepAliveMs?: number;
  /** For `https` URLs; without `ca`, the system's CAs (and `NODE_EXTRA_CA_CERTS`). */
  readonly tls?: HttpTlsOptions;
}

export interface HttpTlsOptions {
  /** PEM bundle of the CAs to verify the server against. */
  readonly ca?: string;
  /** A client certificate and its key, PEM. */
  readonly cert?: string;
  readonly key?: string;
  /** The name to verify the server's certificate against, when it is not the URL's host. */
  readonly servername?: string;
  /** False skips verifying the server's certificate. Default true. */
  readonly rejectUnauthorized?: boolean;
}

export interface HttpRequestOptions {
  readonly method?: HttpMethod;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent with its `content-length`. */
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** This request's limit for its answer's headers, instead of the client's. */
  readonly headersTimeoutMs?: number;
  /** This request's limit for pauses in its answer's body, instead of the client's. */
  readonly bodyTimeoutMs?: number;
}

type HttpErrorCode = 'HTTP_CONNECT_TIMEOUT' | 'HTTP_HEADERS_TIMEOUT' | 'HTTP_BODY_TIMEOUT' | 'HTTP_CLIENT_CLOSED';

/** A request that got no whole answer for a reason of the client's own; `code` says which. */
export class HttpClientError extends Error {
  readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string) {
    super(message);
    this.name = 'HttpClientError';
    this.code = code;
  }
}

/** An answer: its status and headers, and its body to read once (or to drop). */
export class HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Chunks of bytes as they arrive; destroy it to drop the rest (and the connection). */
  readonly body: AsyncIterable<Buffer> & { destroy(): void; readonly destroyed: boolean };

  constructor(response: IncomingMessage) {
    this.status = response.statusCode ?? 0;
    this.headers = response.headers;
    this.body = response;
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.body) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Reads the body to its end without keeping it, so that its connection serves the next request. */
  async dump(): Promise<void> {
    for await (const _ of this.body);
  }
}

/** Errors of a kept connection the server closed as the request went out on it. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`HttpClient: ${name} must be a positive number of milliseconds, received ${String(value)}`);
  return value;
}

/**
 * HTTP/1.1 requests over kept connections, one pool per origin. A request has a limit for
 * connecting, for its answer's headers and for each pause in its body; one sent on a kept
 * connection that the server had closed meanwhile is sent once more on a new one. Errors are
 * Node's (`ECONNREFUSED`, an `AbortError` for an aborted signal) or an {@link HttpClientError}.
 */
export class HttpClient {
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;
  readonly #connectTimeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  /** Connections that finished connecting (and their TLS handshake). */
  readonly #connected = new WeakSet<Socket>();
  /** Requests not yet finished, with their answer's body. */
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(options: HttpClientOptions = {}) {
    this.#connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 10_000);
    this.#headersTimeoutMs = positive('headersTimeoutMs', options.headersTimeoutMs, 30_000);
    this.#bodyTimeoutMs = positive('bodyTimeoutMs', options.bodyTimeoutMs, 30_000);
    const keep = { keepAlive: true, timeout: positive('keepAliveMs', options.keepAliveMs, 4_000) };
    const tls = options.tls ?? {};
    this.#http = new HttpAgent(keep);
    this.#https = new HttpsAgent({
      ...keep,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      rejectUnauthorized: tls.rejectUnauthorized !== false,
    });
  }

  /** Sends a request to an absolute `http` or `https` URL; resolves with the answer once its headers came. */
  async request(url: string | URL, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
    if (this.#closed) throw new HttpClientError('HTTP_CLIENT_CLOSED', 'this HTTP client was closed; make a new one');
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:')
      throw new TypeError(`HttpClient: the URL must be http or https, received ${target.protocol}`);
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    this.#inFlight.add(done);
    void done.then(() => this.#inFlight.delete(done));
    try {
      const answer = await this.#send(target, options, false);
      if (answer.body.destroyed) finished();
      else (answer.body as IncomingMessage).once('close', finished);
      return answer;
    } catch (error) {
      finished();
      throw error;
    }
  }

  #send(target: URL, options: HttpRequestOptions, again: boolean): Promise<HttpAnswer> {
    const secure = target.protocol === 'https:';
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
    const headersTimeoutMs = positive('headersTimeoutMs', options.headersTimeoutMs, this.#headersTimeoutMs);
    const bodyTimeoutMs = positive('bodyTimeoutMs', options.bodyTimeoutMs, this.#bodyTimeoutMs);
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(target, {
        method: options.method ?? 'GET',
        headers,
        agent: secure ? this.#https : this.#http,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const limit = (code: HttpErrorCode, ms: number, what: string): void => {
        clearTimeout(timer);
        timer = setTimeout(() => req.destroy(new HttpClientError(code, `${what} within ${ms} ms`)), ms);
      };
      const waitForHeaders = (): void =>
        limit('HTTP_HEADERS_TIMEOUT', headersTimeoutMs, `${target.origin} sent no answer's headers`);
      req.once('socket', (socket: Socket) => {
        if (this.#connected.has(socket)) return waitForHeaders();
        limit('HTTP_CONNECT_TIMEOUT', this.#connectTimeoutMs, `no connection to ${target.origin}`);
        socket.once(secure ? 'secureConnect' : 'connect', () => {
          this.#connected.add(socket);
          waitForHeaders();
        });
      });
      req.on('error', (error: Error & { code?: string }) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        if (!again && req.reusedSocket && STALE_CONNECTION.has(error.code ?? ''))
          resolve(this.#send(target, options, true));
        else reject(error);
      });
      req.once('response', (response: IncomingMessage) => {
        clearTimeout(timer);
        settled = true;
        watchBody(response, bodyTimeoutMs, options.signal);
        resolve(new HttpAnswer(response));
      });
      req.end(options.body);
    });
  }

  /** Waits for the requests in flight to finish (their bodies read), then closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#inFlight);
    this.#http.destroy();
    this.#https.destroy();
  }
}

/**
 * Ends the body with an error when it pauses for `ms` (the connection's idle timeout, which
 * the connection's pool resets when it is kept for the next request) or when `signal` aborts.
 */
function watchBody(response: IncomingMessage, ms: number, signal: AbortSignal | undefined): void {
  const socket = response.socket;
  const onIdle = (): void => {
    response.destroy(new HttpClientError('HTTP_BODY_TIMEOUT', `the answer's body paused for more than ${ms} ms`));
  };
  const onAbort = (): void => {
    response.destroy(new DOMException('the request was aborted', 'AbortError'));
  };
  socket.setTimeout(ms);
  socket.on('timeout', onIdle);
  signal?.addEventListener('abort', onAbort, { once: true });
  response.once('close', () => {
    socket.off('timeout', onIdle);
    signal?.removeEventListener('abort', onAbort);
  });
}
