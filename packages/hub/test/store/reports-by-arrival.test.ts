import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReportStore } from '../../src/features/reports/report-store.ts';
import { bundledMigrations, openDatabase } from '../../src/store/database.ts';
import { insertTarget } from '../store-rows.ts';

// Migration 044: SQLite keeps rows in their table's key order. Keyed by (target, seq), each of a
// burst of reports (1–2 KB each) landed on a page of its own and split it; kept in arrival
// order, a burst appends to the table's last pages and touches only its small key index at random.
describe('the SQLite reports table', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-reports-by-arrival-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const tableSql = (db: ReturnType<typeof openDatabase>): string =>
    (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'reports'").get() as { sql: string })
      .sql;

  it('keeps reports in arrival order, each (target, seq) once', () => {
    const db = openDatabase(join(dir, 'hub.db'));
    try {
      expect(tableSql(db)).not.toMatch(/WITHOUT ROWID/i);
      insertTarget(db, { id: 't1' });
      const reports = new ReportStore(db);
      expect(reports.insert('t1', 2, 1, 100, '{"b":2}')).toBe(true);
      expect(reports.insert('t1', 1, 1, 200, '{"a":1}')).toBe(true);
      expect(reports.insert('t1', 2, 1, 300, '{"other":2}')).toBe(false);
      expect(db.prepare('SELECT seq FROM reports ORDER BY rowid').all()).toEqual([{ seq: 2 }, { seq: 1 }]);
      expect(reports.heldSeqs('t1', 1, 5)).toEqual([1, 2]);
      expect(reports.json('t1', 2)).toBe('{"b":2}');
    } finally {
      db.close();
    }
  });

  it('keeps every report a hub held before the migration', () => {
    const path = join(dir, 'hub.db');
    const before = bundledMigrations().filter((m) => m.version < 44);
    const old = openDatabase(path, before);
    insertTarget(old, { id: 't1' });
    insertTarget(old, { id: 't2' });
    const stored = [
      ['t2', 1, 1, 100, '{"t2":1}'],
      ['t1', 1, 1, 110, '{"t1":1}'],
      ['t1', 2, 2, 120, '{"t1":2}'],
    ] as const;
    for (const row of stored) old.prepare('INSERT INTO reports VALUES (?, ?, ?, ?, ?)').run(...row);
    old.close();

    const db = openDatabase(path);
    try {
      expect(tableSql(db)).not.toMatch(/WITHOUT ROWID/i);
      expect(
        db.prepare('SELECT target_id, seq, generation, received_at, signed FROM reports ORDER BY rowid').raw().all(),
      ).toEqual(stored.map((row) => [...row]));
      const reports = new ReportStore(db);
      expect(reports.insert('t1', 2, 2, 130, '{"t1":2}')).toBe(false);
      expect(reports.highest('t1')).toEqual({ seq: 2, generation: 2 });
    } finally {
      db.close();
    }
  });
});
