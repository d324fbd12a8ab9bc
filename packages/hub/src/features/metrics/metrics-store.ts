import type { Db } from '../../store/database.ts';
import { forDialect } from '../../store/sql.ts';

/** How long an active target may go without checking in before it counts as not seen. */
export const NOT_SEEN_AFTER_MS = 5 * 60_000;

interface Counted {
  readonly key: string;
  readonly n: number;
}

function counts(rows: readonly Counted[]): Record<string, number> {
  return Object.fromEntries(rows.map((row) => [row.key, row.n]));
}

/**
 * The aggregates the metrics read at scrape time, one query each over the tables the features
 * own. Read-only and read at scrape time rather than counted in memory, so a value is never
 * stale after a restart and no feature has to keep a tally for the metrics' sake.
 */
export class MetricsStore {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      targets: db.prepare<[], Counted>('SELECT status AS key, count(*) AS n FROM targets GROUP BY status'),
      notSeen: db.prepare<[number], { n: number }>(
        "SELECT count(*) AS n FROM targets WHERE status = 'active' AND (last_seen_at IS NULL OR last_seen_at < ?)",
      ),
      rollouts: db.prepare<[], Counted>('SELECT state AS key, count(*) AS n FROM rollouts GROUP BY state'),
      waves: db.prepare<[], Counted>(
        `SELECT CASE WHEN w.finished_at IS NOT NULL THEN 'finished' ELSE r.state END AS key, count(*) AS n
           FROM rollout_waves w JOIN rollouts r ON r.id = w.rollout_id GROUP BY key`,
      ),
      // The drift summary is JSON kept as text: SQLite reads into it as it is, PostgreSQL once cast to jsonb.
      drift: db.prepare<[], Record<'acceptable' | 'transient' | 'suspicious' | 'dangerous', number | null>>(
        forDialect(db, {
          sqlite: `SELECT sum(drift ->> '$.counts.acceptable') AS acceptable, sum(drift ->> '$.counts.transient') AS transient,
                          sum(drift ->> '$.counts.suspicious') AS suspicious, sum(drift ->> '$.counts.dangerous') AS dangerous
                     FROM targets WHERE drift IS NOT NULL AND status != 'revoked'`,
          postgres: `SELECT sum((d #>> '{counts,acceptable}')::numeric) AS acceptable, sum((d #>> '{counts,transient}')::numeric) AS transient,
                            sum((d #>> '{counts,suspicious}')::numeric) AS suspicious, sum((d #>> '{counts,dangerous}')::numeric) AS dangerous
                       FROM (SELECT drift::jsonb AS d FROM targets WHERE drift IS NOT NULL AND status != 'revoked') t`,
        }),
      ),
      checkpoint: db.prepare<[], { seq: number; created_ms: number }>(
        'SELECT seq, created_ms FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1',
      ),
      head: db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM audit_entries'),
    };
  }

  targetsByStatus(): Record<string, number> {
    return counts(this.statements.targets.all());
  }

  agentsNotSeen(now: number): number {
    return this.statements.notSeen.get(now - NOT_SEEN_AFTER_MS)?.n ?? 0;
  }

  rolloutsByState(): Record<string, number> {
    return counts(this.statements.rollouts.all());
  }

  rolloutWavesByState(): Record<string, number> {
    return counts(this.statements.waves.all());
  }

  driftItemsByClass(): Record<string, number> {
    const row = this.statements.drift.get();
    return Object.fromEntries(Object.entries(row ?? {}).map(([cls, n]) => [cls, n ?? 0]));
  }

  auditCheckpoint(now: number): { ageSeconds: number | undefined; unsignedEntries: number } {
    const last = this.statements.checkpoint.get();
    const head = this.statements.head.get()?.seq ?? 0;
    return {
      ageSeconds: last === undefined ? undefined : Math.max(0, (now - last.created_ms) / 1000),
      unsignedEntries: Math.max(0, head - (last?.seq ?? 0)),
    };
  }
}
