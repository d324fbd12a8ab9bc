import type { Target } from '@flotilla/protocol';
import { targetFieldRows } from '@flotilla/protocol/query';
import type { Db } from '../../packages/hub/src/store/database.ts';
import { targetFieldRowParams, targetFieldsSql } from '../../packages/hub/src/features/targets/target-fields-store.ts';

/**
 * Writes a generated fleet straight into a hub database, rows and query fields, in one
 * transaction: enrolling 100,000 agents through the API would measure enrollment instead.
 */
export function seedTargets(db: Db, targets: Iterable<Target>, observedSeq: number): void {
  const insertTarget =
    db.prepare(`INSERT INTO targets (id, name, status, public_key, key_id, labels, properties, facts, desired_generation, desired_bundles, observed, observed_seq, drift, enrolled_at, last_seen_at, last_changed_at, last_changed_by)
  VALUES (@id, @name, @status, @publicKey, @keyId, @labels, @properties, @facts, @generation, @bundles, @observed, @observedSeq, @drift, @enrolled, @seen, @changed, @by)`);
  const insertField = db.prepare(targetFieldsSql.insert);
  db.transaction(() => {
    for (const t of targets) {
      insertTarget.run({
        id: t.id,
        name: t.name,
        status: t.status,
        publicKey: 'A'.repeat(43),
        keyId: t.keyId,
        labels: JSON.stringify(t.labels),
        properties: JSON.stringify(t.properties),
        facts: JSON.stringify(t.facts),
        generation: t.desired.generation,
        bundles: JSON.stringify(t.desired.bundles),
        observed: JSON.stringify(t.observed),
        observedSeq,
        drift: t.drift === undefined ? null : JSON.stringify(t.drift),
        enrolled: Date.parse(t.enrolledAt),
        seen: t.lastSeenAt === null ? null : Date.parse(t.lastSeenAt),
        changed: Date.parse(t.lastChangedAt),
        by: JSON.stringify(t.lastChangedBy),
      });
      for (const row of targetFieldRows(t)) insertField.run(...targetFieldRowParams(t.id, row));
    }
  })();
}
