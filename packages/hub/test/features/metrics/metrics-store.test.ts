import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsStore, NOT_SEEN_AFTER_MS } from '../../../src/features/metrics/metrics-store.ts';
import type { Db } from '../../../src/store/database.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { insertTarget } from '../../store-rows.ts';

const NOW = 10_000_000;
const ZERO_HASH = `sha256:${'0'.repeat(64)}`;

function drift(acceptable: number, transient: number, suspicious: number, dangerous: number): string {
  return JSON.stringify({ counts: { acceptable, transient, suspicious, dangerous }, items: [] });
}

function insertRollout(db: Db, id: string, seq: number, state: string, waves: readonly (number | null)[]): void {
  db.prepare(
    `INSERT INTO rollouts (id, seq, release_name, release_version, release_digest, selector, plan, state, current_wave, created_at, created_by, updated_at)
     VALUES (?, ?, 'web', '1.0.0', 'sha256:web', '', '{}', ?, 0, 1000, 'alice', 1000)`,
  ).run(id, seq, state);
  waves.forEach((finishedAt, idx) =>
    db
      .prepare('INSERT INTO rollout_waves (rollout_id, idx, started_at, finished_at) VALUES (?, ?, 1000, ?)')
      .run(id, idx, finishedAt),
  );
}

function appendAudit(db: Db, count: number): void {
  let prev = ZERO_HASH;
  for (let seq = 1; seq <= count; seq++) {
    const hash = `sha256:${String(seq).padStart(64, '0')}`;
    db.prepare(
      `INSERT INTO audit_entries (seq, time_ms, actor_kind, actor_id, action, outcome, hash, prev_hash, entry)
       VALUES (?, ?, 'system', 'hub', 'test', 'success', ?, ?, '{}')`,
    ).run(seq, 1000 + seq, hash, prev);
    prev = hash;
  }
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the metrics store', () => {
    let store: OpenedStore;
    let metrics: MetricsStore;

    beforeAll(() => {
      store = kind.open();
      metrics = new MetricsStore(store.db);
    });

    afterAll(() => {
      store?.close();
    });

    it('answers nothing, and no unsigned audit entries, on an empty hub', () => {
      expect(metrics.targetsByStatus()).toEqual({});
      expect(metrics.agentsNotSeen(NOW)).toBe(0);
      expect(metrics.rolloutsByState()).toEqual({});
      expect(metrics.rolloutWavesByState()).toEqual({});
      expect(metrics.driftItemsByClass()).toEqual({ acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 });
      expect(metrics.auditCheckpoint(NOW)).toEqual({ ageSeconds: undefined, unsignedEntries: 0 });
    });

    describe('with targets, rollouts and an audit trail', () => {
      beforeAll(() => {
        const { db } = store;
        insertTarget(db, { id: 'seen', lastSeenAt: NOW - 1000, drift: drift(1, 2, 0, 3) });
        insertTarget(db, { id: 'silent', lastSeenAt: NOW - NOT_SEEN_AFTER_MS - 1, drift: drift(4, 0, 5, 0) });
        insertTarget(db, { id: 'never' });
        insertTarget(db, { id: 'off', status: 'disabled' });
        insertTarget(db, { id: 'gone', status: 'revoked', drift: drift(100, 100, 100, 100) });
        insertRollout(db, 'ro-1', 1, 'running', [1500, null]);
        insertRollout(db, 'ro-2', 2, 'paused', [null]);
        insertRollout(db, 'ro-3', 3, 'completed', [1500, 1600]);
        appendAudit(db, 7);
        db.prepare(
          `INSERT INTO audit_checkpoints (seq, hash, reason, key_id, public_key, created_ms, signed)
           VALUES (?, 'h', 'interval', 'k', 'pk', ?, '{}')`,
        ).run(5, NOW - 30_000);
      });

      it('counts targets by status', () => {
        expect(metrics.targetsByStatus()).toEqual({ active: 3, disabled: 1, revoked: 1 });
      });

      it('counts active targets not seen lately, or never', () => {
        expect(metrics.agentsNotSeen(NOW)).toBe(2);
      });

      it('counts rollouts by state, and their waves finished or by their rollout’s state', () => {
        expect(metrics.rolloutsByState()).toEqual({ running: 1, paused: 1, completed: 1 });
        expect(metrics.rolloutWavesByState()).toEqual({ finished: 3, running: 1, paused: 1 });
      });

      it('sums the drift items of every target not revoked, by class', () => {
        expect(metrics.driftItemsByClass()).toEqual({ acceptable: 5, transient: 2, suspicious: 5, dangerous: 3 });
      });

      it('answers the last checkpoint’s age and the entries appended since', () => {
        expect(metrics.auditCheckpoint(NOW)).toEqual({ ageSeconds: 30, unsignedEntries: 2 });
      });
    });
  });
});
