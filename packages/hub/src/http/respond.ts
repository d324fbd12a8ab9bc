import type { ServerResponse } from 'node:http';
import type { z } from 'zod';

/**
 * Sends an answer of the API: `schema` is the protocol's schema of this answer
 * (`@flotilla/protocol/api`), which types `body`, so what the hub sends is what its clients
 * parse.
 */
export function sendJson<S extends z.ZodType>(
  res: ServerResponse,
  status: number,
  _schema: S,
  body: z.input<S>,
  headers: Record<string, string> = {},
): void {
  sendRawJson(res, status, JSON.stringify(body), headers);
}

/** Sends a body that is already JSON text, such as a stored signed document. */
export function sendRawJson(
  res: ServerResponse,
  status: number,
  json: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    ...headers,
  });
  res.end(json);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end();
}
