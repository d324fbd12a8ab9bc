import type { Readable } from 'node:stream';
import { request } from 'undici';
import type { z } from 'zod';
import { errorFromResponse, FlotillaError, messageOf, parseJson, TargetId } from '@flotilla/protocol';
import { lenient, TargetPage } from '@flotilla/protocol/api';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The operator's client for the hub API, used by the CLI. */
export class ApiClient {
  readonly base: string;
  private readonly token: string | undefined;
  private readonly tokenSource: string | undefined;

  /** @param tokenSource where the token came from (`--token-file F`, `context prod`), for error messages */
  constructor(hubUrl: string, token: string | undefined, tokenSource?: string) {
    let url: URL;
    try {
      url = new URL(hubUrl);
    } catch {
      throw new FlotillaError(
        'CONFIG_INVALID',
        `--hub must be a URL such as http://127.0.0.1:7070, received '${hubUrl}'`,
      );
    }
    this.base = url.href.replace(/\/$/, '');
    this.token = token;
    this.tokenSource = tokenSource;
  }

  /**
   * A refusal of the token, said with where the token came from; a request without a token
   * says how to give one.
   */
  private answerError(status: number, body: string): FlotillaError {
    const error = errorFromResponse(status, body, { code: 'INTERNAL', message: `the hub answered ${status}` });
    if (status !== 401) return error;
    if (this.token === undefined)
      return new FlotillaError(
        error.code,
        `the hub at ${this.base} needs an API token and none was given; save one with flotilla login --hub ${this.base} --token-file FILE, or pass --token-file FILE (a hub writes its first admin token to admin-token in its data directory)`,
        error.details,
      );
    return new FlotillaError(
      error.code,
      `${error.message} (the token from ${this.tokenSource ?? 'the command line'})`,
      error.details,
    );
  }

  /**
   * A target's id from its id or its name: a name is looked up with a fleet query. An unknown
   * name is a `NOT_FOUND` that says how to find the right one.
   */
  async targetId(idOrName: string): Promise<string> {
    if (TargetId.safeParse(idOrName).success) return idOrName;
    const page = await this.call(
      TargetPage,
      'GET',
      `/v1/targets?limit=2&q=${encodeURIComponent(`name=${JSON.stringify(idOrName)}`)}`,
    );
    const found = page.items.filter((target) => target.name === idOrName);
    if (found.length !== 1)
      throw new FlotillaError(
        'NOT_FOUND',
        `no target is called ${idOrName}; give its id (tgt_…) or its exact name (flotilla targets ls lists them)`,
      );
    return found[0]!.id;
  }

  private unreachable(error: unknown): FlotillaError {
    return new FlotillaError(
      'HUB_UNAVAILABLE',
      `cannot reach the hub at ${this.base} (${messageOf(error)}); is it running? set --hub or FLOTILLA_HUB`,
    );
  }

  /**
   * Calls the API and reads the answer with `schema`, the protocol's schema of that answer
   * (`@flotilla/protocol/api`), leniently: keys this CLI does not know are dropped, so it reads
   * a newer hub. An answer it cannot read at all is a `VALIDATION_FAILED` naming the problem.
   */
  async call<S extends z.ZodType>(schema: S, method: Method, path: string, body?: unknown): Promise<z.infer<S>> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await request(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
    const text = await response.body.text();
    if (response.statusCode >= 400) throw this.answerError(response.statusCode, text);
    let value: unknown;
    try {
      value = parseJson(text, `the hub's answer to ${method} ${path}`);
    } catch {
      throw new FlotillaError('VALIDATION_FAILED', `the hub's answer to ${method} ${path} is not JSON`);
    }
    const result = lenient(schema).safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `the hub's answer to ${method} ${path} is not what this CLI reads: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || 'answer'}: ${issue.message}`}; is the CLI older than the hub?`,
      );
    }
    return result.data;
  }

  /**
   * Sends a body as a stream (a file, say) with its content type and reads the answer as
   * `call` does: for uploads too large to hold, such as a reports file.
   */
  async upload<S extends z.ZodType>(schema: S, path: string, contentType: string, body: Readable): Promise<z.infer<S>> {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    let response;
    try {
      response = await request(`${this.base}${path}`, { method: 'POST', headers, body });
    } catch (error) {
      throw this.unreachable(error);
    }
    const text = await response.body.text();
    if (response.statusCode >= 400) throw this.answerError(response.statusCode, text);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new FlotillaError('VALIDATION_FAILED', `the hub's answer to POST ${path} is not JSON`);
    }
    const result = lenient(schema).safeParse(value);
    if (!result.success)
      throw new FlotillaError('VALIDATION_FAILED', `the hub's answer to POST ${path} is not what this CLI reads`);
    return result.data;
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
    if (response.statusCode >= 400) throw this.answerError(response.statusCode, await response.body.text());
    return response.body;
  }
}
