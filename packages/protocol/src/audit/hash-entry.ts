import { hash } from 'node:crypto';
import { FlotillaError } from '../errors.ts';
import { hashLinkUnchecked } from './lib/hash-link.ts';
import type { AuditEntry, AuditEntryBody } from './entry.ts';

/** The `prevHash` of entry 1: `sha256:` and 64 zeros. */
export const AUDIT_GENESIS_HASH = `sha256:${'0'.repeat(64)}`;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The RFC 8785 canonical form of an entry's body: exactly the members seq, time, actor
 * (id, kind), action, subjects, outcome, reason, details and salt. It equals
 * `canonicalize(body)`; it is written out by hand because verification hashes every entry
 * of a log and the generic walk, which tracks a path for its error messages, was the slowest
 * step (a property test keeps the two equal).
 */
export function canonicalAuditBody(body: AuditEntryBody): string {
  let subjects = '';
  for (let i = 0; i < body.subjects.length; i++) subjects += (i === 0 ? '' : ',') + text(body.subjects[i]!);
  // Keys in RFC 8785 order (UTF-16 code units): action < actor < details < outcome < reason < salt < seq < subjects < time.
  return `{"action":${text(body.action)},"actor":{"id":${text(body.actor.id)},"kind":${text(body.actor.kind)}},"details":${canonicalValue(body.details)},"outcome":${text(body.outcome)},"reason":${body.reason === null ? 'null' : text(body.reason)},"salt":${text(body.salt)},"seq":${integer(body.seq)},"subjects":[${subjects}],"time":${text(body.time)}}`;
}

/** `bodyHash`: the sha256 of the canonical body. What an export carries for an entry it leaves out. */
export function hashAuditBody(body: AuditEntryBody): string {
  return `sha256:${hash('sha256', canonicalAuditBody(body), 'hex')}`;
}

/**
 * The hash of a chain link: sha256 of the canonical `{"bodyHash":…,"prevHash":…,"seq":…}`.
 * Hashing the link, not the body, is what lets a verifier recompute the chain through
 * entries it may not see.
 */
export function hashAuditLink(seq: number, prevHash: string, bodyHash: string): string {
  if (!Number.isSafeInteger(seq) || seq < 1 || !DIGEST.test(prevHash) || !DIGEST.test(bodyHash)) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `an audit link needs a positive integer seq and two sha256 digests; received seq ${String(seq)}`,
    );
  }
  return hashLinkUnchecked(seq, prevHash, bodyHash);
}

/**
 * The `hash` an entry must carry: `hashAuditLink(seq, prevHash, hashAuditBody(entry))`.
 * Members other than the body's nine and `prevHash` are not covered, so parse the entry with
 * the strict {@link AuditEntry} schema first.
 *
 * @example
 * const hash = hashAuditEntry({ seq: 1, prevHash: AUDIT_GENESIS_HASH, time, actor, action: 'target.label',
 *   subjects: [id], outcome: 'success', reason: null, details: {}, salt });
 */
export function hashAuditEntry(entry: Omit<AuditEntry, 'hash'>): string {
  if (!DIGEST.test(entry.prevHash))
    throw new FlotillaError('VALIDATION_FAILED', 'an audit entry prevHash is sha256: followed by 64 hex digits');
  // The body hash is ours and seq is checked by the body's serializer: the link needs no more checks.
  return hashLinkUnchecked(entry.seq, entry.prevHash, hashAuditBody(entry));
}

/** RFC 8785 for any JSON value, as `canonicalize` writes it, without the path bookkeeping. */
function canonicalValue(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return text(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value))
        throw new FlotillaError(
          'CANONICAL_JSON_UNSUPPORTED',
          `audit details hold ${value}, which JSON cannot represent`,
        );
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalValue(value[i]);
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        out += `${first ? '' : ','}${text(key)}:${canonicalValue(member)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new FlotillaError('CANONICAL_JSON_UNSUPPORTED', `audit details hold a ${typeof value}, which is not JSON`);
  }
}

function text(value: string): string {
  if (!value.isWellFormed()) {
    throw new FlotillaError(
      'CANONICAL_JSON_UNSUPPORTED',
      'an audit entry string contains a lone UTF-16 surrogate, which RFC 8785 forbids',
    );
  }
  return JSON.stringify(value);
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value))
    throw new FlotillaError('VALIDATION_FAILED', `audit seq must be a safe integer; received ${String(value)}`);
  return String(value);
}
