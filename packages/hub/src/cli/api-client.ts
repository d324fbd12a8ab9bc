import type { Readable } from 'node:stream';
import { request } from 'undici';
import { errorFromResponse, FlotillaError } from '@flotilla/protocol';

/** The operator's client for the hub API, used by the CLI. */
export class ApiClient {
  readonly base: string;
  private readonly token: string | undefined;

  constructor(hubUrl: string, token: string | undefined) {
    let url: URL;
    try {
      url = new URL(hubUrl);
    } catch {
      throw new FlotillaError('CONFIG_INVALID', `--hub must be a URL such as http://127.0.0.1:7070, received '${hubUrl}'`);
    }
    this.base = url.href.replace(/\/$/, '');
    this.token = token;
  }

  private unreachable(error: unknown): FlotillaError {
    return new FlotillaError('HUB_UNAVAILABLE', `cannot reach the hub at ${this.base} (${(error as Error).message}); is it running? set --hub or FLOTILLA_HUB`);
  }

  async call<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await request(`${this.base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw this.unreachable(error);
    }
    const text = await response.body.text();
    if (response.statusCode >= 400) throw answerError(response.statusCode, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** A GET whose answer is read as a stream, such as an audit export; an error answer throws as in `call`. */
  async stream(path: string): Promise<Readable> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    let response;
    try {
      response = await request(`${this.base}${path}`, { method: 'GET', headers });
    } catch (error) {
      throw this.unreachable(error);
    }
    if (response.statusCode >= 400) throw answerError(response.statusCode, await response.body.text());
    return response.body;
  }
}

function answerError(status: number, body: string): FlotillaError {
  return errorFromResponse(status, body, { code: 'INTERNAL', message: `the hub answered ${status}` });
}
