import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { FlotillaError, parseJson, parseWith } from '@flotilla/protocol';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * Refuses a body declared in another charset than UTF-8 (`application/json; charset=utf-16`):
 * the hub decodes every body as UTF-8, and reading UTF-16 as UTF-8 would change what was sent.
 */
export function assertUtf8(contentType: string): void {
  const match = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i.exec(contentType);
  if (match === null) return;
  const charset = (match[2] ?? '').toLowerCase();
  if (charset !== 'utf-8' && charset !== 'utf8')
    throw new FlotillaError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the request body must be UTF-8, received charset ${charset === '' ? '(empty)' : charset}; send it as UTF-8 or leave out the charset`,
    );
}

/**
 * Reads a JSON body of at most `limit` bytes and validates it with `schema`. Every way a body
 * can be wrong becomes a 4xx that names the problem (nesting past `JSON_MAX_DEPTH` included,
 * checked before anything walks the value); nothing reaches a service unvalidated.
 */
export async function readJson<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
  limit = DEFAULT_BODY_LIMIT,
): Promise<z.infer<S>> {
  assertJsonBody(req, limit);
  const text = await readBodyText(req, limit, 'the request body');
  return parseWith(schema, parseJson(text, 'the request body'), 'request body');
}

/**
 * The bytes of a JSON body of at most `limit` bytes, unparsed: for a route that parses and
 * validates its bodies off the event loop, as `readJson` would, before anything uses them. The
 * media type and size are checked here.
 */
export async function readJsonBytes(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<Uint8Array> {
  assertJsonBody(req, limit);
  return readBodyBytes(req, limit, 'the request body');
}

/** Refuses a body that is not UTF-8 JSON, or that declares more than `limit` bytes. */
function assertJsonBody(req: IncomingMessage, limit: number): void {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new FlotillaError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the request body must be application/json, received ${type === '' ? 'no content type' : type}`,
    );
  }
  assertUtf8(type);
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit)
    throw new FlotillaError(
      'BODY_TOO_LARGE',
      `the request body of ${declared} bytes exceeds the limit of ${limit} bytes`,
    );
}

/**
 * A body of JSON when one was sent, else `schema` applied to `{}`: for commands whose body
 * is optional, such as `{ "reason": "…" }`.
 */
export async function readOptionalJson<S extends z.ZodType>(req: IncomingMessage, schema: S): Promise<z.infer<S>> {
  if (
    req.headers['content-type'] === undefined &&
    req.headers['transfer-encoding'] === undefined &&
    (req.headers['content-length'] === undefined || req.headers['content-length'] === '0')
  )
    return parseWith(schema, {}, 'request body');
  return readJson(req, schema);
}

/** Reads a body as UTF-8 text, refusing it as soon as it passes `limit` bytes. */
export async function readBodyText(req: IncomingMessage, limit: number, what: string): Promise<string> {
  const bytes = await readBodyBytes(req, limit, what);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * Reads a body's bytes, refusing it as soon as it passes `limit` bytes, into a buffer of their
 * own: not Buffer.concat, whose small results are slices of Node's shared pool, all of which a
 * worker thread would be sent with them.
 */
async function readBodyBytes(req: IncomingMessage, limit: number, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new FlotillaError('BODY_TOO_LARGE', `${what} exceeds the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** The query string validated with `schema`; a parameter given twice counts with its last value. */
export function readQuery<S extends z.ZodType>(query: URLSearchParams, schema: S): z.infer<S> {
  return parseWith(schema, Object.fromEntries(query), 'query parameters');
}

/**
 * The query string validated with `schema`, where the parameters named in `lists` are
 * collected from repeats and commas (`target=a&target=b`, `target=a,b`) and any other
 * parameter given twice is left as an array, which its schema then refuses.
 */
export function readListQuery<S extends z.ZodType>(
  query: URLSearchParams,
  schema: S,
  lists: readonly string[],
): z.infer<S> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    if (lists.includes(key))
      out[key] = values
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .filter((v) => v !== '');
    else out[key] = values.length === 1 ? values[0] : values;
  }
  return parseWith(schema, out, 'query parameters');
}

/** A path parameter validated with `schema`, such as a target id. */
export function readParam<S extends z.ZodType>(value: string | undefined, schema: S, what: string): z.infer<S> {
  return parseWith(schema, value, what);
}
