import type { AuditOutcome } from '@flotilla/protocol/audit';
import type { AuditOrder } from './audit-cursor.ts';

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

export interface BuiltAuditQuery {
  readonly sql: string;
  readonly params: unknown[];
}

/**
 * The SQL for one page: entries with seq in `from` … `to` (time bounds and the cursor are
 * already folded into that range) that pass the filter, in `order`, `limit` of them.
 *
 * One target is read through the subjects primary key in seq order, so a target's history
 * costs the same however large the log; several targets go through an IN over the same key.
 */
export function buildAuditQuery(filter: AuditQueryFilter, from: number, to: number, order: AuditOrder, limit: number): BuiltAuditQuery {
  const where: string[] = [];
  const params: unknown[] = [];
  let source = 'audit_entries e';
  let seq = 'e.seq';
  const targets = filter.targets;
  if (targets !== undefined && targets.length === 1) {
    source = 'audit_subjects s JOIN audit_entries e ON e.seq = s.seq';
    seq = 's.seq';
    where.push('s.target_id = ?');
    params.push(targets[0]);
  }
  where.push(`${seq} BETWEEN ? AND ?`);
  params.push(from, to);
  if (targets !== undefined && targets.length !== 1) {
    where.push('e.seq IN (SELECT seq FROM audit_subjects WHERE target_id IN (SELECT value FROM json_each(?)) AND seq BETWEEN ? AND ?)');
    params.push(JSON.stringify(targets), from, to);
  }
  if (filter.actor?.kind !== undefined) {
    where.push('e.actor_kind = ?');
    params.push(filter.actor.kind);
  }
  if (filter.actor?.id !== undefined) {
    where.push('e.actor_id = ?');
    params.push(filter.actor.id);
  }
  if (filter.action !== undefined) {
    if (filter.action.endsWith('.*')) {
      // A range, not LIKE: it uses the (action, seq) index and needs no escaping. '/' sorts right after '.'.
      const prefix = filter.action.slice(0, -1);
      where.push('e.action >= ? AND e.action < ?');
      params.push(prefix, `${prefix.slice(0, -1)}/`);
    } else {
      where.push('e.action = ?');
      params.push(filter.action);
    }
  }
  if (filter.outcome !== undefined) {
    const outcomes: readonly AuditOutcome[] = typeof filter.outcome === 'string' ? [filter.outcome] : filter.outcome;
    where.push(`e.outcome IN (${outcomes.map(() => '?').join(', ')})`);
    params.push(...outcomes);
  }
  params.push(limit);
  return {
    sql: `SELECT e.entry AS entry FROM ${source} WHERE ${where.join(' AND ')} ORDER BY ${seq} ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`,
    params,
  };
}
