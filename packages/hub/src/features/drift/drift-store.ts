import { z } from 'zod';
import { Actor, DriftPolicy, type DriftReportSection } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';
import { forDialect } from '../../store/sql.ts';

/** A target's current drift: the section of its latest report that carried one. */
export interface CurrentDrift {
  readonly targetId: string;
  readonly seq: number;
  readonly observedAt: number;
  readonly section: DriftReportSection;
  /** What identifies the set of items, their classes, actions and holds: a change of it is audited. */
  readonly signature: string;
}

/** The same, with the target's name, for fleet-wide listings. */
export interface NamedCurrentDrift extends CurrentDrift {
  readonly name: string;
}

/** The drift policy an operator set, as stored. */
const StoredDriftPolicy = z.object({ policy: DriftPolicy, setAt: z.string(), setBy: Actor });
type StoredDriftPolicy = z.infer<typeof StoredDriftPolicy>;

interface TargetDriftRow {
  target_id: string;
  seq: number;
  observed_at: number;
  section: string;
  signature: string;
}

/** The meta key of the drift policy operators set. */
const POLICY_KEY = 'drift.policy';

function currentDrift(row: TargetDriftRow): CurrentDrift {
  return {
    targetId: row.target_id,
    seq: row.seq,
    observedAt: row.observed_at,
    section: JSON.parse(row.section) as DriftReportSection,
    signature: row.signature,
  };
}

/**
 * Current drift per target (migration 005), the drift policy operators set, and every policy
 * envelopes may name (migration 045). Callers run writes inside their own transactions, with
 * the audit entry of the same change.
 */
export class DriftStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      get: db.prepare<[string], TargetDriftRow>('SELECT * FROM target_drift WHERE target_id = ?'),
      head: db.prepare<[string], Pick<TargetDriftRow, 'seq' | 'signature'>>(
        'SELECT seq, signature FROM target_drift WHERE target_id = ?',
      ),
      put: db.prepare(`INSERT INTO target_drift (target_id, seq, observed_at, section, signature) VALUES (@targetId, @seq, @observedAt, @section, @signature)
        ON CONFLICT (target_id) DO UPDATE SET seq = excluded.seq, observed_at = excluded.observed_at, section = excluded.section, signature = excluded.signature`),
      // The ids arrive as one JSON array, whatever their number: each dialect has its own table function to read it.
      of: db.prepare<[string], TargetDriftRow & { name: string }>(
        `SELECT d.*, t.name FROM ${forDialect(db, { sqlite: 'json_each(?) j', postgres: 'json_array_elements_text(?::json) j (value)' })}
           JOIN target_drift d ON d.target_id = j.value JOIN targets t ON t.id = d.target_id ORDER BY t.name`,
      ),
      all: db.prepare<[], TargetDriftRow & { name: string }>(
        'SELECT d.*, t.name FROM target_drift d JOIN targets t ON t.id = d.target_id ORDER BY t.name',
      ),
      policyGet: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      policySet: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      policyDelete: db.prepare<[string]>('DELETE FROM meta WHERE key = ?'),
      versionGet: db.prepare<[string], { policy: string }>('SELECT policy FROM drift_policies WHERE digest = ?'),
      versionPut: db.prepare<[string, string, number]>(
        'INSERT INTO drift_policies (digest, policy, stored_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING',
      ),
    };
  }

  current(targetId: string): CurrentDrift | undefined {
    const row = this.s.get.get(targetId);
    return row === undefined ? undefined : currentDrift(row);
  }

  /** The seq and set signature of a target's current drift, without reading its section. */
  head(targetId: string): Pick<CurrentDrift, 'seq' | 'signature'> | undefined {
    return this.s.head.get(targetId);
  }

  setCurrent(drift: CurrentDrift): void {
    this.s.put.run({
      targetId: drift.targetId,
      seq: drift.seq,
      observedAt: drift.observedAt,
      section: JSON.stringify(drift.section),
      signature: drift.signature,
    });
  }

  /** Current drift of these targets (every target with drift when undefined), by target name. */
  driftOf(targetIds: readonly string[] | undefined): NamedCurrentDrift[] {
    const rows = targetIds === undefined ? this.s.all.all() : this.s.of.all(JSON.stringify(targetIds));
    return rows.map((row) => ({ ...currentDrift(row), name: row.name }));
  }

  /** The policy an operator set, or undefined for the default (also when what is stored no longer reads as a policy). */
  policy(): StoredDriftPolicy | undefined {
    const json = this.s.policyGet.get(POLICY_KEY)?.value;
    if (json === undefined) return undefined;
    const stored = StoredDriftPolicy.safeParse(JSON.parse(json));
    return stored.success ? stored.data : undefined;
  }

  /** A drift policy kept by {@link keepVersion}: its canonical JSON, or undefined for a digest never kept. */
  version(digest: string): string | undefined {
    return this.s.versionGet.get(digest)?.policy;
  }

  /** Keeps a policy under its digest for good (migration 045); a digest kept already stays as it is. */
  keepVersion(digest: string, json: string, at: number): void {
    this.s.versionPut.run(digest, json, at);
  }

  /** Stores the policy an operator set; undefined goes back to the default. */
  setPolicy(stored: StoredDriftPolicy | undefined): void {
    if (stored === undefined) this.s.policyDelete.run(POLICY_KEY);
    else this.s.policySet.run(POLICY_KEY, JSON.stringify(stored));
  }
}
