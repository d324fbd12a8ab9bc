import type { AuditOutcome } from '@flotilla/protocol/audit';

/** A point in time as the hub's callers hold one. */
export type AuditTime = Date | string | number;

/**
 * Which entries to read; every member narrows. `since` is inclusive, `until` exclusive.
 * `action` is exact (`target.label`) or a prefix (`target.*`). `targets` matches entries that
 * name any of the ids; an empty list matches nothing.
 */
export interface AuditQueryFilter {
  readonly since?: AuditTime;
  readonly until?: AuditTime;
  readonly actor?: { readonly kind?: 'user' | 'agent' | 'system'; readonly id?: string };
  readonly action?: string;
  readonly targets?: readonly string[];
  readonly outcome?: AuditOutcome | readonly AuditOutcome[];
}
