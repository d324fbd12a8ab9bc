import type { z } from 'zod';
import {
  ANSWER_MAX_BYTES,
  BUNDLE_MAX_BYTES,
  DRIFT_POLICY_MAX_BYTES,
  ENROLL_ANSWER_MAX_BYTES,
  ENVELOPE_MAX_BYTES,
  errorFromResponse,
  FlotillaError,
  formatBytes,
  isFlotillaError,
  parseJson,
  SignedBundle,
  SignedTrustRoot,
  messageOf,
  TRUST_ROOT_MAX_BYTES,
  type SignedReport,
} from '@flotilla/protocol';
import {
  EnrollResponse,
  KeyRotationResponse,
  LastReport,
  lenient,
  ReportReceipt,
  TokenResponse,
  type EnrollRequest,
  type KeyRotationRequest,
} from '@flotilla/protocol/api';
import { HttpClient, type HttpAnswer, type HttpMethod } from './http-client.ts';
import { HubEndpoints, type HubFailure } from './hub-endpoints.ts';

/**
 * The hub could not be reached or failed: try again later, with backoff. `reachable` tells a
 * hub that answered (a 5xx, a cut answer) from one that did not (refused, reset, timed out);
 * `status` is the 5xx or 429 it answered, `retryAfterMs` its `Retry-After`, when it sent one.
 */
export class HubUnavailableError extends FlotillaError {
  readonly reachable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(message: string, reachable: boolean, retryAfterMs?: number, status?: number) {
    super('HUB_UNAVAILABLE', message);
    this.reachable = reachable;
    this.retryAfterMs = retryAfterMs;
    this.status = status;
  }
}

/** `Retry-After` in seconds (the hub sends no dates), as milliseconds, at most an hour. */
function retryAfterOf(header: string | string[] | undefined): number | undefined {
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 3600) * 1000 : undefined;
}

type EnvelopeAnswer =
  | { readonly kind: 'unchanged'; readonly etag: string }
  | { readonly kind: 'none'; readonly etag: string }
  /** The envelope's JSON text, for the verifier to parse with bounds and check. */
  | { readonly kind: 'envelope'; readonly etag: string; readonly text: string };

/** One request's options (see {@link HubClient}'s `call`). */
interface CallOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  limit?: number;
  what?: string;
  exact?: number;
}

interface CallAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * The agent's side of the hub API. Answers are parsed leniently (unknown keys dropped) so an
 * older agent keeps working with a newer hub; signed documents are returned raw so their
 * signatures are checked over exactly what the hub signed. Requests go to the current replica
 * of its {@link HubEndpoints}; one that finds it down moves the agent to the next (the caller
 * retries there after its backoff).
 */
export class HubClient {
  private readonly http: HttpClient;
  readonly endpoints: HubEndpoints;

  /**
   * @param hub one hub URL, several replicas' (a list or comma-separated), or the endpoints to share
   * @param options.maxWaitSeconds the longest long-poll the agent asks for: answers' headers may take that and 15 s more
   */
  constructor(hub: string | readonly string[] | HubEndpoints, options: { maxWaitSeconds?: number } = {}) {
    this.endpoints = hub instanceof HubEndpoints ? hub : new HubEndpoints(hub);
    const waitMs = (options.maxWaitSeconds ?? 60) * 1000;
    this.http = new HttpClient({
      headersTimeoutMs: waitMs + 15_000,
      bodyTimeoutMs: 60_000,
      connectTimeoutMs: 10_000,
      keepAliveMs: 60_000,
    });
  }

  /** The base URL of the replica requests go to now, without a trailing slash. */
  get url(): string {
    return this.endpoints.current;
  }

  /**
   * One request. The answer is read up to `limit` bytes (by default {@link ANSWER_MAX_BYTES}):
   * a longer one is cut off there and refused with `BODY_TOO_LARGE`, or, when `exact` names
   * the length the answer must have, with `BUNDLE_LENGTH_MISMATCH`.
   */
  private async call(method: HttpMethod, path: string, options: CallOptions = {}): Promise<CallAnswer> {
    const base = this.endpoints.current;
    try {
      const answer = await this.callAt(base, method, path, options);
      this.endpoints.reached(base);
      return answer;
    } catch (error) {
      const failure = error instanceof HubUnavailableError ? failureOf(error) : undefined;
      if (failure !== undefined) this.endpoints.failed(base, failure, messageOf(error));
      throw error;
    }
  }

  private async callAt(base: string, method: HttpMethod, path: string, options: CallOptions): Promise<CallAnswer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: HttpAnswer;
    try {
      response = await this.http.request(`${base}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new HubUnavailableError(`cannot reach the hub at ${base}: ${messageOf(error)}`, false);
    }
    const what = options.what ?? `the answer to ${method} ${path}`;
    // An error answer is read as any answer: the caps are for documents.
    const document = response.status < 400;
    const exact = document ? options.exact : undefined;
    const limit = exact ?? (document ? options.limit : undefined) ?? ANSWER_MAX_BYTES;
    const refuse = (received: number | undefined): FlotillaError =>
      exact === undefined
        ? new FlotillaError(
            'BODY_TOO_LARGE',
            `${what} exceeds the agent's cap of ${formatBytes(limit)}${received === undefined ? '' : ` (the hub announced ${received} bytes)`}; the agent stopped reading it`,
            { limit },
          )
        : new FlotillaError(
            'BUNDLE_LENGTH_MISMATCH',
            `${what} is ${received === undefined ? 'longer than' : `${received} bytes, not`} the ${exact} bytes its envelope names; the agent stopped reading it`,
            { expected: exact },
          );
    let text: string;
    try {
      text = await readBounded(response, limit, refuse);
    } catch (error) {
      // An outsized error page of a failing hub is still a failing hub: retried, not refused.
      if (isFlotillaError(error) && response.status < 500) throw error;
      throw new HubUnavailableError(
        `the hub at ${base} closed the answer to ${method} ${path} early: ${messageOf(error)}`,
        false,
      );
    }
    // A 429 is a hub shedding load (or a proxy in front of it): come back after its Retry-After.
    if (response.status >= 500 || response.status === 429)
      throw new HubUnavailableError(
        `the hub at ${base} answered ${response.status} to ${method} ${path}${errorCodeIn(text)}`,
        true,
        retryAfterOf(response.headers['retry-after']),
        response.status,
      );
    if (response.status >= 400)
      throw errorFromResponse(response.status, text, {
        code: 'BAD_REQUEST',
        message: `the hub answered ${response.status} to ${method} ${path}`,
      });
    if (exact !== undefined && Buffer.byteLength(text) !== exact) throw refuse(Buffer.byteLength(text));
    return { status: response.status, headers: response.headers, text };
  }

  async enroll(body: EnrollRequest): Promise<EnrollResponse> {
    const answer = await this.call('POST', '/v1/enroll', {
      body,
      limit: ENROLL_ANSWER_MAX_BYTES,
      what: 'the enrollment answer',
    });
    return parse(EnrollResponse, answer.text, 'enrollment answer');
  }

  async token(assertion: string): Promise<TokenResponse> {
    const answer = await this.call('POST', '/v1/token', { body: { assertion }, what: 'the access token answer' });
    return parse(TokenResponse, answer.text, 'token answer');
  }

  async trustRoot(version: number): Promise<SignedTrustRoot> {
    const answer = await this.call('GET', `/v1/trust-roots/${version}`, {
      limit: TRUST_ROOT_MAX_BYTES,
      what: `trust root v${version}`,
    });
    return parse(SignedTrustRoot, answer.text, `trust root v${version}`);
  }

  /** Long-polls for the target's envelope: unchanged, none assigned yet, or a new one. */
  async envelope(
    targetId: string,
    token: string,
    etag: string | undefined,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<EnvelopeAnswer> {
    const response = await this.call('GET', `/v1/targets/${targetId}/envelope?wait=${waitSeconds}`, {
      token,
      headers: etag === undefined ? {} : { 'if-none-match': etag },
      ...(signal === undefined ? {} : { signal }),
      limit: ENVELOPE_MAX_BYTES,
      what: 'the envelope',
    });
    const answerTag = typeof response.headers['etag'] === 'string' ? response.headers['etag'] : '';
    if (response.status === 304) return { kind: 'unchanged', etag: answerTag };
    if (response.status === 204) return { kind: 'none', etag: answerTag };
    return { kind: 'envelope', etag: answerTag, text: response.text };
  }

  /**
   * A bundle by digest. With `size` (the length its envelope names) the answer must be exactly
   * that long; without, it is read up to {@link BUNDLE_MAX_BYTES}.
   */
  async bundle(digest: string, token: string, size?: number): Promise<{ parsed: SignedBundle; raw: unknown }> {
    const what = `bundle ${digest}`;
    if (size !== undefined && size > BUNDLE_MAX_BYTES)
      throw new FlotillaError(
        'BODY_TOO_LARGE',
        `the envelope names ${what} of ${size} bytes, more than the agent's cap of ${formatBytes(BUNDLE_MAX_BYTES)} (the most the hub accepts); the agent did not fetch it`,
        { limit: BUNDLE_MAX_BYTES },
      );
    const text = (
      await this.call('GET', `/v1/bundles/${digest}`, {
        token,
        what,
        ...(size === undefined ? { limit: BUNDLE_MAX_BYTES } : { exact: size }),
      })
    ).text;
    const raw = json(text, what);
    return { parsed: parseValue(SignedBundle, raw, what), raw };
  }

  /**
   * The drift policy an envelope names, as the text the hub sent (at most
   * {@link DRIFT_POLICY_MAX_BYTES}): the caller checks it against the digest before reading it.
   */
  async driftPolicy(digest: string, token: string): Promise<string> {
    return (
      await this.call('GET', `/v1/drift-policies/${digest}`, {
        token,
        limit: DRIFT_POLICY_MAX_BYTES,
        what: `drift policy ${digest}`,
      })
    ).text;
  }

  /** Asks the hub to bind a new key to the target (key-rotation.ts); signed, so no access token. */
  async rotateKey(targetId: string, request: KeyRotationRequest): Promise<KeyRotationResponse> {
    const answer = await this.call('POST', `/v1/targets/${targetId}/key-rotation`, {
      body: request,
      what: 'the key rotation answer',
    });
    return parse(KeyRotationResponse, answer.text, 'key rotation answer');
  }

  /** Sends a signed report; the receipt says whether it was new and the last seq the hub holds. */
  async report(targetId: string, token: string, signed: SignedReport): Promise<ReportReceipt> {
    const { text } = await this.call('POST', `/v1/targets/${targetId}/reports`, { token, body: signed });
    return parse(lenient(ReportReceipt), text, 'report receipt');
  }

  /** What the hub last heard from this target (its last report's seq, generation and releases). */
  async lastReport(targetId: string, token: string): Promise<LastReport> {
    const { text } = await this.call('GET', `/v1/targets/${targetId}/reports/last`, { token });
    return parse(lenient(LastReport), text, 'last report');
  }

  /**
   * Whether the hub answers its liveness probe now: a cheap look while backing off, so that an
   * agent comes back as soon as its hub does. Never throws.
   */
  async alive(signal?: AbortSignal): Promise<boolean> {
    try {
      const response = await this.http.request(`${this.endpoints.current}/v1/health`, {
        headersTimeoutMs: 2_000,
        bodyTimeoutMs: 2_000,
        ...(signal === undefined ? {} : { signal }),
      });
      await response.dump();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/**
 * The body as UTF-8 text, read only while it stays within `limit` bytes: past that (or when
 * the hub announces more) the connection is dropped and `refuse` says so, with the announced
 * length when there was one.
 */
async function readBounded(
  response: HttpAnswer,
  limit: number,
  refuse: (received: number | undefined) => FlotillaError,
): Promise<string> {
  const { body } = response;
  const declared = Number(response.headers['content-length']);
  if (Number.isInteger(declared) && declared > limit) {
    body.destroy();
    throw refuse(declared);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw refuse(undefined);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * An answer's JSON, bounded in depth before anything walks it: text that is not JSON is a hub
 * failing (retried); JSON nested past the limit is refused as it stands (`JSON_TOO_DEEP`).
 */
function json(text: string, what: string): unknown {
  try {
    return parseJson(text, `the ${what} the hub sent`);
  } catch (error) {
    if (isFlotillaError(error, 'BAD_REQUEST'))
      throw new HubUnavailableError(`the hub sent a ${what} that is not JSON`, true);
    throw error;
  }
}

function parse<S extends z.ZodType>(schema: S, text: string, what: string): z.infer<S> {
  return parseValue(schema, json(text, what), what);
}

function parseValue<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `the hub sent a ${what} this agent cannot read: ${result.error.issues[0]?.message ?? 'invalid'}`,
    );
  return result.data;
}

/**
 * How a request failed, for {@link HubEndpoints.failed}: a hub that did not answer whole, or
 * one that answered a 5xx; undefined for a hub that answered something unreadable.
 */
function failureOf(error: HubUnavailableError): HubFailure | undefined {
  if (!error.reachable) return { kind: 'down' };
  return error.status === undefined ? undefined : { kind: 'status', status: error.status };
}

export function isRetryable(error: unknown): boolean {
  return error instanceof HubUnavailableError || (isFlotillaError(error) && error.code === 'HUB_UNAVAILABLE');
}

/** `: CODE` of an error answer, for messages: `the hub answered 503 to POST …: STORE_UNAVAILABLE`. */
function errorCodeIn(text: string): string {
  const code = errorFromResponse(500, text, { code: 'INTERNAL', message: '' }).code;
  return code === 'INTERNAL' ? '' : `: ${code}`;
}
