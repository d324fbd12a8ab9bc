import { FlotillaError } from '../errors.ts';
import type { AuditDetails } from './entry.ts';

const MAX_DEPTH = 32;

/**
 * A copy of `details` that is plain JSON, so that what is hashed is what is stored and what a
 * verifier parses back. Object members whose value is `undefined` are dropped (as
 * `JSON.stringify` drops them); anything JSON cannot carry — a Date, a Map, NaN, a bigint, a
 * lone surrogate, a cycle — is refused with the path where it was found.
 *
 * @example normalizeAuditDetails({ from: 'a', note: undefined }) // { from: 'a' }
 */
export function normalizeAuditDetails(details: Readonly<Record<string, unknown>> | undefined): AuditDetails {
  if (details === undefined) return {};
  const copy = copyJson(details, '$.details', 0);
  if (copy === null || typeof copy !== 'object' || Array.isArray(copy)) refuse('$.details', 'is not an object');
  return copy as AuditDetails;
}

function copyJson(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) refuse(path, `nests deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) refuse(path, `is ${value}, which JSON cannot represent`);
    return value;
  }
  if (typeof value === 'string') {
    if (!value.isWellFormed()) refuse(path, 'contains a lone UTF-16 surrogate');
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) refuse(`${path}[${i}]`, 'is undefined; use null in arrays');
      out[i] = copyJson(value[i], `${path}[${i}]`, depth + 1);
    }
    return out;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      refuse(path, `is a ${value.constructor?.name ?? 'non-plain object'}; convert it to a string or a plain object`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      if (member === undefined) continue;
      if (!key.isWellFormed()) refuse(path, 'has a key with a lone UTF-16 surrogate');
      // defineProperty, not assignment: a key named __proto__ must stay an ordinary member.
      Object.defineProperty(out, key, {
        value: copyJson(member, `${path}.${key}`, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return refuse(path, `is a ${typeof value}, which is not JSON`);
}

function refuse(path: string, problem: string): never {
  throw new FlotillaError('VALIDATION_FAILED', `audit ${path} ${problem}; audit details must be plain JSON`, { path });
}
