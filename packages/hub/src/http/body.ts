import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { FlotillaError } from '@flotilla/protocol';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * Reads a JSON body of at most `limit` bytes and validates it with `schema`. Every way a body
 * can be wrong becomes a 4xx that names the problem; nothing reaches a service unvalidated.
 */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limit = DEFAULT_BODY_LIMIT): Promise<z.infer<S>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new FlotillaError('UNSUPPORTED_MEDIA_TYPE', `the request body must be application/json, received ${type === '' ? 'no content type' : type}`);
  }
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new FlotillaError('BODY_TOO_LARGE', `the request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  const text = await readBodyText(req, limit, 'the request body');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FlotillaError('BAD_REQUEST', `the request body is not valid JSON: ${(error as Error).message}`);
  }
  return parseWith(schema, value, 'request body');
}

/**
 * A body of JSON when one was sent, else `schema` applied to `{}`: for commands whose body
 * is optional, such as `{ "reason": "…" }`.
 */
export async function readOptionalJson<S extends z.ZodType>(req: IncomingMessage, schema: S): Promise<z.infer<S>> {
  if (req.headers['content-type'] === undefined && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0')) return parseWith(schema, {}, 'request body');
  return readJson(req, schema);
}

/** Reads a body as UTF-8 text, refusing it as soon as it passes `limit` bytes. */
export async function readBodyText(req: IncomingMessage, limit: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new FlotillaError('BODY_TOO_LARGE', `${what} exceeds the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Validates a value, turning zod's findings into one readable VALIDATION_FAILED message. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.slice(0, 5).map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`));
    throw new FlotillaError('VALIDATION_FAILED', `${what} is invalid: ${problems.join('; ')}`, { issues: result.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String), message: i.message })) });
  }
  return result.data;
}
