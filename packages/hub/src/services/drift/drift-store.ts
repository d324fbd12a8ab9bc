import type { Actor } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/** A target's current drift: the section of its latest report that carried one. */
export interface TargetDriftRow {
  target_id: string;
  seq: number;
  observed_at: number;
  section: string;
  signature: string;
}

/** The same, with the target's name, for fleet-wide listings. */
export interface NamedTargetDriftRow extends TargetDriftRow {
  name: string;
}

export interface IncidentRow {
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

/** The meta key of the drift policy operators set. */
export const DRIFT_POLICY_META_KEY = 'drift.policy';

/**
 * The SQL of migration 005: current drift per target and incidents. Callers run these inside
 * their own transactions (`HubStore.transaction`), with the audit entry of the same change.
 */
export class DriftStore {
  readonly db: Db;
  private readonly s;

  constructor(db: Db) {
    this.db = db;
    this.s = {
      driftGet: db.prepare<[string], TargetDriftRow>('SELECT * FROM target_drift WHERE target_id = ?'),
      driftPut: db.prepare(`INSERT INTO target_drift (target_id, seq, observed_at, section, signature) VALUES (@targetId, @seq, @observedAt, @section, @signature)
        ON CONFLICT (target_id) DO UPDATE SET seq = excluded.seq, observed_at = excluded.observed_at, section = excluded.section, signature = excluded.signature`),
      driftOf: db.prepare<[string], NamedTargetDriftRow>(`SELECT d.*, t.name FROM json_each(?) j JOIN target_drift d ON d.target_id = j.value JOIN targets t ON t.id = d.target_id ORDER BY t.name`),
      driftAll: db.prepare<[], NamedTargetDriftRow>('SELECT d.*, t.name FROM target_drift d JOIN targets t ON t.id = d.target_id ORDER BY t.name'),
      incidentGet: db.prepare<[string], IncidentRow>('SELECT * FROM incidents WHERE id = ?'),
      incidentsOpen: db.prepare<[], IncidentRow>("SELECT * FROM incidents WHERE state = 'open' ORDER BY opened_at, id"),
      incidentsAll: db.prepare<[], IncidentRow>('SELECT * FROM incidents ORDER BY opened_at DESC, id'),
      incidentsByState: db.prepare<[string], IncidentRow>('SELECT * FROM incidents WHERE state = ? ORDER BY opened_at DESC, id'),
      incidentOpen: db.prepare(`INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES (@id, @selector, @reason, 'open', @at, @actor)
        ON CONFLICT (id) DO UPDATE SET selector = excluded.selector, reason = excluded.reason, state = 'open', opened_at = excluded.opened_at, opened_by = excluded.opened_by, closed_at = NULL, closed_by = NULL, close_reason = NULL`),
      incidentClose: db.prepare("UPDATE incidents SET state = 'closed', closed_at = @at, closed_by = @actor, close_reason = @reason WHERE id = @id AND state = 'open'"),
      // The targets whose current envelope carries a hold: the ones to re-sign when it is lifted.
      targetsHolding: db.prepare<[string], { id: string }>(`SELECT t.id FROM targets t
        WHERE t.envelope IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(t.envelope, '$.envelope.holds') h WHERE json_extract(h.value, '$.id') = ?) ORDER BY t.id`),
      targetsWithEnvelope: db.prepare<[], { id: string }>("SELECT id FROM targets WHERE envelope IS NOT NULL AND status != 'revoked' ORDER BY id"),
    };
  }

  currentDrift(targetId: string): TargetDriftRow | undefined {
    return this.s.driftGet.get(targetId);
  }

  setCurrentDrift(row: { targetId: string; seq: number; observedAt: number; section: string; signature: string }): void {
    this.s.driftPut.run(row);
  }

  /** Current drift of these targets (every target with drift when undefined), by target name. */
  driftOf(targetIds: readonly string[] | undefined): NamedTargetDriftRow[] {
    return targetIds === undefined ? this.s.driftAll.all() : this.s.driftOf.all(JSON.stringify(targetIds));
  }

  incident(id: string): IncidentRow | undefined {
    return this.s.incidentGet.get(id);
  }

  openIncidents(): IncidentRow[] {
    return this.s.incidentsOpen.all();
  }

  incidents(state: 'open' | 'closed' | undefined): IncidentRow[] {
    return state === undefined ? this.s.incidentsAll.all() : this.s.incidentsByState.all(state);
  }

  openIncident(row: { id: string; selector: string; reason: string; at: number; actor: Actor }): void {
    this.s.incidentOpen.run({ ...row, actor: JSON.stringify(row.actor) });
  }

  /** Closes an open incident; false when it was not open. */
  closeIncident(id: string, at: number, actor: Actor, reason: string | null): boolean {
    return this.s.incidentClose.run({ id, at, actor: JSON.stringify(actor), reason }).changes === 1;
  }

  targetsHolding(holdId: string): string[] {
    return this.s.targetsHolding.all(holdId).map((r) => r.id);
  }

  targetsWithEnvelope(): string[] {
    return this.s.targetsWithEnvelope.all().map((r) => r.id);
  }
}
