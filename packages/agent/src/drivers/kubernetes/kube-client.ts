import { FlotillaError, messageOf, parseJson } from '@flotilla/protocol';
import { HttpClient, type HttpMethod } from '../../http-client.ts';
import type { ClusterConnection } from './cluster-connection.ts';
import { kubeApiError } from './kube-api-error.ts';

export interface KubeClientOptions {
  /** Sent as User-Agent; the API server derives a field manager from it for non-apply writes. */
  readonly userAgent?: string;
  /** Limit for the response headers and for each body chunk. Default 30 s. */
  readonly timeoutMs?: number;
}

interface RawResponse {
  readonly status: number;
  readonly body: unknown;
}

type Query = Readonly<Record<string, string | undefined>>;

/**
 * A small REST client for the Kubernetes API over HTTP/1.1 (http-client.ts): JSON in and out, bearer token or client
 * certificate, and one retry after re-reading the token when the server answers 401 (the
 * service-account token may have rotated). Failures become FlotillaErrors: `KUBE_UNREACHABLE`
 * when no answer came, `UNAUTHENTICATED`, `KUBE_APPLY_CONFLICT` or `KUBE_API_ERROR` otherwise.
 */
export class KubeClient {
  private readonly connection: ClusterConnection;
  private readonly http: HttpClient;
  private readonly userAgent: string;
  private readonly base: URL;

  constructor(connection: ClusterConnection, options: KubeClientOptions = {}) {
    let base: URL;
    try {
      base = new URL(connection.server);
    } catch {
      throw new TypeError(
        `KubeClient: connection.server must be a URL such as https://10.0.0.1:6443, received ${JSON.stringify(connection.server)}`,
      );
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:')
      throw new TypeError(
        `KubeClient: connection.server must use https (or http for a local stand-in), received ${base.protocol}`,
      );
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new TypeError(`KubeClient: timeoutMs must be a positive number, received ${String(options.timeoutMs)}`);
    this.connection = connection;
    this.base = base;
    this.userAgent = options.userAgent ?? 'flotilla-agent';
    this.http = new HttpClient({
      tls: {
        ...(connection.ca === undefined ? {} : { ca: connection.ca }),
        ...(connection.clientCertificate === undefined
          ? {}
          : { cert: connection.clientCertificate.cert, key: connection.clientCertificate.key }),
        ...(connection.tlsServerName === undefined ? {} : { servername: connection.tlsServerName }),
        rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
      },
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs: timeoutMs,
    });
  }

  /** Sends a request and returns whatever status came back; throws only when no answer came. */
  async send(
    method: HttpMethod,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string } = {},
  ): Promise<RawResponse> {
    const first = await this.once(method, path, options);
    if (first.status !== 401 || this.connection.token === undefined) return first;
    // The token may have been rotated under us: read it again, and retry once if it changed.
    if (!(await this.connection.token.refresh())) return first;
    return this.once(method, path, options);
  }

  private url(path: string, query: Query | undefined): string {
    const url = new URL(this.base.toString());
    url.pathname = `${this.base.pathname.replace(/\/+$/, '')}${path}`;
    for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(name, value);
    return url.toString();
  }

  private async once(
    method: HttpMethod,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string },
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (this.connection.token !== undefined) headers['authorization'] = `Bearer ${await this.connection.token.token()}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    let status: number;
    let text: string;
    try {
      const response = await this.http.request(this.url(path, options.query), {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      throw new FlotillaError(
        'KUBE_UNREACHABLE',
        `cannot reach the Kubernetes API server at ${this.base.origin} (${method} ${path}: ${code}: ${messageOf(error)}); the agent retries the pass`,
        { cause: code },
      );
    }
    let parsed: unknown = text;
    if (text !== '') {
      try {
        parsed = parseJson(text, 'the API server answer');
      } catch {
        parsed = text;
      }
    }
    return { status, body: parsed };
  }

  /** Sends a request and returns the body of a 2xx answer; throws the API's error otherwise. */
  async call<T = Record<string, unknown>>(
    method: HttpMethod,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const response = await this.send(method, path, options);
    if (response.status < 200 || response.status >= 300)
      throw kubeApiError(method, path, response.status, response.body);
    return response.body as T;
  }

  /** GET, or undefined on 404. */
  async getIfExists<T = Record<string, unknown>>(path: string, query?: Query): Promise<T | undefined> {
    const response = await this.send('GET', path, query === undefined ? {} : { query });
    if (response.status === 404) return undefined;
    if (response.status < 200 || response.status >= 300)
      throw kubeApiError('GET', path, response.status, response.body);
    return response.body as T;
  }

  /**
   * Server-side apply: PATCH with `application/apply-patch+yaml`. The body is sent as JSON,
   * which is valid YAML.
   */
  async apply<T = Record<string, unknown>>(
    path: string,
    object: unknown,
    options: { fieldManager: string; force: boolean },
  ): Promise<T> {
    return this.call<T>('PATCH', path, {
      query: { fieldManager: options.fieldManager, ...(options.force ? { force: 'true' } : {}) },
      body: object,
      contentType: 'application/apply-patch+yaml',
    });
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
