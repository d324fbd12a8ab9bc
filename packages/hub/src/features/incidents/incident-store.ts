import type { Actor } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/** An incident as kept: open, or closed and kept for the record. */
export interface IncidentRecord {
  readonly id: string;
  /** The canonical fleet query; empty selects every target. */
  readonly selector: string;
  readonly reason: string;
  readonly state: 'open' | 'closed';
  readonly openedAt: number;
  readonly openedBy: Actor;
  readonly closedAt: number | null;
  readonly closedBy: Actor | null;
  readonly closeReason: string | null;
}

interface IncidentRow {
  id: string;
  selector: string;
  reason: string;
  state: 'open' | 'closed';
  opened_at: number;
  opened_by: string;
  closed_at: number | null;
  closed_by: string | null;
  close_reason: string | null;
}

function incident(row: IncidentRow): IncidentRecord {
  return {
    id: row.id,
    selector: row.selector,
    reason: row.reason,
    state: row.state,
    openedAt: row.opened_at,
    openedBy: JSON.parse(row.opened_by) as Actor,
    closedAt: row.closed_at,
    closedBy: row.closed_by === null ? null : (JSON.parse(row.closed_by) as Actor),
    closeReason: row.close_reason,
  };
}

/** Incidents (migration 005). Callers run writes inside their own transactions, with the audit entry of the same change. */
export class IncidentStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      get: db.prepare<[string], IncidentRow>('SELECT * FROM incidents WHERE id = ?'),
      open: db.prepare<[], IncidentRow>("SELECT * FROM incidents WHERE state = 'open' ORDER BY opened_at, id"),
      all: db.prepare<[], IncidentRow>('SELECT * FROM incidents ORDER BY opened_at DESC, id'),
      byState: db.prepare<[string], IncidentRow>('SELECT * FROM incidents WHERE state = ? ORDER BY opened_at DESC, id'),
      insert:
        db.prepare(`INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES (@id, @selector, @reason, 'open', @at, @actor)
        ON CONFLICT (id) DO UPDATE SET selector = excluded.selector, reason = excluded.reason, state = 'open', opened_at = excluded.opened_at, opened_by = excluded.opened_by, closed_at = NULL, closed_by = NULL, close_reason = NULL`),
      close: db.prepare(
        "UPDATE incidents SET state = 'closed', closed_at = @at, closed_by = @actor, close_reason = @reason WHERE id = @id AND state = 'open'",
      ),
    };
  }

  get(id: string): IncidentRecord | undefined {
    const row = this.s.get.get(id);
    return row === undefined ? undefined : incident(row);
  }

  /** The open incidents, oldest first. */
  open(): IncidentRecord[] {
    return this.s.open.all().map(incident);
  }

  /** Newest first; every incident when `state` is undefined. */
  list(state: 'open' | 'closed' | undefined): IncidentRecord[] {
    return (state === undefined ? this.s.all.all() : this.s.byState.all(state)).map(incident);
  }

  /** Opens an incident, or opens a closed one again with a new selector and reason. */
  insert(incident: { id: string; selector: string; reason: string; at: number; actor: Actor }): void {
    this.s.insert.run({ ...incident, actor: JSON.stringify(incident.actor) });
  }

  /** Closes an open incident; false when it was not open. */
  close(id: string, at: number, actor: Actor, reason: string | null): boolean {
    return this.s.close.run({ id, at, actor: JSON.stringify(actor), reason }).changes === 1;
  }
}
