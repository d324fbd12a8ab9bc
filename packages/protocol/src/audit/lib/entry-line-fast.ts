import type { AuditEntryLine } from '../export-format.ts';

const KEYS = [
  'kind',
  'seq',
  'time',
  'actor',
  'action',
  'subjects',
  'outcome',
  'reason',
  'details',
  'salt',
  'prevHash',
  'hash',
];
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const SALT = /^[A-Za-z0-9_-]{22}$/;
const TARGET_ID = /^tgt_[0-9a-f]{20}$/;
const ACTION = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * A fast yes for the entry lines the hub writes. It accepts a strict subset of what the
 * `AuditEntryLine` schema accepts (only `…sssZ` times, for one), so a yes can skip the schema
 * and a no falls back to it for the verdict and the message. It exists because schema
 * parsing was the largest cost of verifying an export; a property test holds it to the
 * subset rule.
 */
export function isPlainEntryLine(value: unknown): value is AuditEntryLine {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  let n = 0;
  for (const key in v) {
    if (!Object.hasOwn(v, key) || !KEYS.includes(key)) return false;
    n++;
  }
  if (n !== KEYS.length || v.kind !== 'entry') return false;
  const { seq, time, actor, action, subjects, outcome, reason, details, salt, prevHash, hash } = v;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return false;
  if (typeof time !== 'string' || !ISO_UTC.test(time) || new Date(time).toISOString() !== time) return false;
  if (typeof actor !== 'object' || actor === null || Array.isArray(actor)) return false;
  const a = actor as Record<string, unknown>;
  if (Object.keys(a).length !== 2 || (a.kind !== 'user' && a.kind !== 'agent' && a.kind !== 'system')) return false;
  if (typeof a.id !== 'string' || a.id.length < 1 || a.id.length > 128) return false;
  if (typeof action !== 'string' || action.length > 128 || !ACTION.test(action)) return false;
  if (!Array.isArray(subjects) || subjects.length > 10_000) return false;
  for (const subject of subjects) if (typeof subject !== 'string' || !TARGET_ID.test(subject)) return false;
  if (outcome !== 'success' && outcome !== 'refused' && outcome !== 'failure') return false;
  if (reason !== null && (typeof reason !== 'string' || reason.length > 1024)) return false;
  if (
    typeof details !== 'object' ||
    details === null ||
    Array.isArray(details) ||
    Object.getPrototypeOf(details) !== Object.prototype
  )
    return false;
  if (typeof salt !== 'string' || !SALT.test(salt)) return false;
  return typeof prevHash === 'string' && DIGEST.test(prevHash) && typeof hash === 'string' && DIGEST.test(hash);
}
