import { createHash } from 'node:crypto';
import { canonicalize } from '../canonical-json.ts';

/** `sha256:` followed by the lowercase hex digest of the bytes or UTF-8 text. */
export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The content address of a JSON value: the sha256 of its RFC 8785 canonical form. */
export function digestOf(value: unknown): string {
  return sha256(canonicalize(value));
}
