import type { Target } from '@flotilla/protocol';
import { targetFieldRows, targetTimes } from '@flotilla/protocol/query';
import { targetFieldRowParams } from '../../../src/features/targets/target-fields-store.ts';
import type { Db } from '../../../src/store/database.ts';

/**
 * Replaces the store's targets and their index rows with the fleet's, each table in one
 * statement: a statement per row would make a PostgreSQL run a round trip per row.
 */
export function loadFleet(db: Db, fleet: readonly Target[]): void {
  const insertMany = (head: string, rows: unknown[][]): void => {
    if (rows.length === 0) return;
    const tuple = `(${rows[0]!.map(() => '?').join(', ')})`;
    db.prepare(`${head} VALUES ${rows.map(() => tuple).join(', ')}`).run(...rows.flat());
  };
  db.transaction(() => {
    db.exec('DELETE FROM target_fields; DELETE FROM targets;');
    insertMany(
      `INSERT INTO targets (id, name, status, public_key, key_id, labels, properties, facts, enrolled_at, last_seen_at, last_changed_at, last_changed_by)`,
      fleet.map((target) => {
        const times = targetTimes(target);
        return [
          target.id,
          target.name,
          target.status,
          'pk',
          target.keyId,
          JSON.stringify(target.labels),
          JSON.stringify(target.properties),
          JSON.stringify(target.facts),
          times.enrolledAt,
          times.lastSeenAt,
          times.lastChangedAt,
          JSON.stringify(target.lastChangedBy),
        ];
      }),
    );
    insertMany(
      'INSERT INTO target_fields (target_id, field, text_value, num_value, version_key, time_value)',
      fleet.flatMap((target) => targetFieldRows(target).map((row) => targetFieldRowParams(target.id, row))),
    );
  })();
}
