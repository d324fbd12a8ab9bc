import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { errorFromResponse, FlotillaError, messageOf, parseHubUrls, parseJson, TargetId } from '@flotilla/protocol';
import { lenient, TargetPage } from '@flotilla/protocol/api';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Methods HTTP defines as idempotent: sent again to another replica whatever happened to the first try. */
const IDEMPOTENT: ReadonlySet<Method> = new Set(['GET', 'PUT', 'DELETE']);

/** Connection errors that mean the request never left: safe to send to another replica whatever it is. */
const NOT_SENT: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverSent(error: unknown): boolean {
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  return NOT_SENT.has(String(code)) || NOT_SENT.has(String(cause?.code));
}

/** One request as `send` makes it: the body is made afresh for each replica tried (a file stream is read once). */
interface Outgoing {
  readonly method: Method;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: () => string | Readable;
  /** A POST the hub takes as often as it is sent with the same effect (an offline reports import). */
  readonly repeatable?: boolean;
}

/**
 * The operator's client for the hub API, used by the CLI. Given several hub replicas (`--hub
 * a,b`), a request goes to the first; when it cannot connect, or the replica answers 502, 503
 * or 504, the request goes to the next. A request that is not safe to repeat (a POST or a PATCH)
 * goes on only when it surely did not arrive (the connection was refused, or a 503 said the
 * replica did not take it): after a reset or a 502/504 it may have been received, and the error
 * names the replica rather than risk doing it twice.
 */
export class ApiClient {
  /** The hub replicas, in order of preference. */
  readonly hubs: readonly string[];
  private readonly token: string | undefined;
  private readonly tokenSource: string | undefined;

  /**
   * @param hub one hub URL, or several replicas' separated by commas
   * @param tokenSource where the token came from (`--token-file F`, `context prod`), for error messages
   */
  constructor(hub: string, token: string | undefined, tokenSource?: string) {
    this.hubs = parseHubUrls(hub, '--hub');
    this.token = token;
    this.tokenSource = tokenSource;
  }

  /** The hub replicas as one setting: a URL, or URLs separated by commas. */
  get hub(): string {
    return this.hubs.join(',');
  }

  /**
   * Sends `outgoing` to the first replica that takes it (see the class); answers the response
   * and the replica that gave it. A 4xx, or the last replica's 5xx, is returned for the caller
   * to read as an error.
   */
  private async send(outgoing: Outgoing): Promise<{ hub: string; response: Dispatcher.ResponseData }> {
    const { method, path } = outgoing;
    const repeatable = IDEMPOTENT.has(method) || outgoing.repeatable === true;
    const failures: string[] = [];
    for (const [i, hub] of this.hubs.entries()) {
      const last = i === this.hubs.length - 1;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(`${hub}${path}`, {
          method,
          headers: outgoing.headers,
          ...(outgoing.body === undefined ? {} : { body: outgoing.body() }),
        });
      } catch (error) {
        failures.push(`${hub} (${messageOf(error)})`);
        if (last) throw this.unreachable(failures);
        if (!repeatable && !neverSent(error)) throw this.perhapsReceived(hub, outgoing, messageOf(error));
        continue;
      }
      const status = response.statusCode;
      if (last || (status !== 502 && status !== 503 && status !== 504)) return { hub, response };
      if (!repeatable && status !== 503) {
        await response.body.dump();
        throw this.perhapsReceived(hub, outgoing, `it answered ${status}`);
      }
      await response.body.dump();
      failures.push(`${hub} (answered ${status})`);
    }
    throw this.unreachable(failures);
  }

  private perhapsReceived(hub: string, { method, path }: Outgoing, what: string): FlotillaError {
    return new FlotillaError(
      'HUB_UNAVAILABLE',
      `the hub at ${hub} did not answer ${method} ${path} (${what}); it may have received it, so it was not sent to another hub: check whether it took effect before running the command again`,
    );
  }

  /**
   * A refusal of the token, said with where the token came from; a request without a token
   * says how to give one.
   */
  private answerError(hub: string, status: number, body: string): FlotillaError {
    const error = errorFromResponse(status, body, { code: 'INTERNAL', message: `the hub answered ${status}` });
    if (status !== 401) return error;
    if (this.token === undefined)
      return new FlotillaError(
        error.code,
        `the hub at ${hub} needs an API token and none was given; save one with flotilla login --hub ${this.hub} --token-file FILE, or pass --token-file FILE (a hub writes its first admin token to admin-token in its data directory)`,
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

  /** No replica could be reached: each named with why (`failures`: `URL (reason)`). */
  private unreachable(failures: readonly string[]): FlotillaError {
    return new FlotillaError(
      'HUB_UNAVAILABLE',
      `cannot reach the hub at ${failures.join(', nor at ')}; is it running? set --hub or FLOTILLA_HUB`,
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
    const text = body === undefined ? undefined : JSON.stringify(body);
    const answer = await this.send({
      method,
      path,
      headers,
      ...(text === undefined ? {} : { body: () => text }),
    });
    return this.read(schema, method, path, answer);
  }

  private async read<S extends z.ZodType>(
    schema: S,
    method: Method,
    path: string,
    { hub, response }: { hub: string; response: Dispatcher.ResponseData },
  ): Promise<z.infer<S>> {
    const text = await response.body.text();
    if (response.statusCode >= 400) throw this.answerError(hub, response.statusCode, text);
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
   * POSTs a body as a stream (a file, say) with its content type and reads the answer as
   * `call` does: for uploads too large to hold, such as a reports file. `body` opens the stream,
   * once for each replica tried; `repeatable` says the hub takes the same upload twice with the
   * same effect, so it may go to another replica after one that may have received it.
   */
  async upload<S extends z.ZodType>(
    schema: S,
    path: string,
    contentType: string,
    body: () => Readable,
    options: { repeatable?: boolean } = {},
  ): Promise<z.infer<S>> {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    const answer = await this.send({
      method: 'POST',
      path,
      headers,
      body,
      ...(options.repeatable === undefined ? {} : { repeatable: options.repeatable }),
    });
    return this.read(schema, 'POST', path, answer);
  }

  /** A GET whose answer is read as a stream, such as an audit export; an error answer throws as in `call`. */
  async stream(path: string): Promise<Readable> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    const { hub, response } = await this.send({ method: 'GET', path, headers });
    if (response.statusCode >= 400) throw this.answerError(hub, response.statusCode, await response.body.text());
    return response.body;
  }
}
