import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { FreePages } from '../../src/store/free-pages.ts';
import { insertTarget } from '../store-rows.ts';

const dirs: string[] = [];
const open: Database.Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function hubDatabase(): { readonly db: Database.Database; readonly path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-free-pages-'));
  dirs.push(dir);
  const path = join(dir, 'hub.db');
  const db = openDatabase(path);
  open.push(db);
  return { db, path };
}

/** `count` reports of about 2 KB each for one target: a month of an edge site's history, in small. */
function writeReports(db: Database.Database, count: number): void {
  insertTarget(db, { id: 'tgt_0000000000000001' });
  const insert = db.prepare(
    'INSERT INTO reports (target_id, seq, generation, received_at, signed) VALUES (?, ?, 0, ?, ?)',
  );
  const signed = JSON.stringify({ report: { phase: 'applied', pad: 'x'.repeat(2000) }, signature: {} });
  db.transaction(() => {
    for (let seq = 1; seq <= count; seq++) insert.run('tgt_0000000000000001', seq, seq, signed);
  })();
}

function pruneAllButNewest(db: Database.Database, count: number): void {
  db.prepare('DELETE FROM reports WHERE seq < ?').run(count);
}

const failures = { report: (error: unknown) => expect.fail(`unexpected failure: ${String(error)}`) };

describe('giving the pages a prune freed back to the file system', () => {
  it('is what every database the hub creates can do (SQLite incremental auto-vacuum)', () => {
    const { db } = hubDatabase();
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
    expect(new FreePages(db, { failures }).reclaims).toBe(true);
  });

  it('gives back every free page, and the file shrinks at the next checkpoint, with the rows kept intact', async () => {
    const { db, path } = hubDatabase();
    writeReports(db, 5000);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const full = statSync(path).size;
    pruneAllButNewest(db, 5000);
    db.pragma('wal_checkpoint(TRUNCATE)');
    // Deleting alone leaves the file as big as it was.
    expect(statSync(path).size).toBe(full);
    const pages = new FreePages(db, { failures });
    const freed = pages.free;
    expect(freed).toBeGreaterThan(2000);
    expect(pages.freeBytes).toBe(freed * (db.pragma('page_size', { simple: true }) as number));

    expect(await pages.reclaim()).toBe(freed);
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(pages.free).toBe(0);
    expect(pages.freeBytes).toBe(0);
    expect(statSync(path).size).toBeLessThan(full / 10);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT seq FROM reports').pluck().all()).toEqual([5000]);
  });

  it('gives them back a slice at a time, letting other work run between slices', async () => {
    const { db } = hubDatabase();
    writeReports(db, 1000);
    pruneAllButNewest(db, 1000);
    const order: string[] = [];
    const pages = new FreePages(db, {
      failures,
      slicePages: 64,
      faults: { reach: (point) => void order.push(point) },
    });
    let turns = true;
    const other = (): void => {
      order.push('other work');
      if (turns) setImmediate(other);
    };
    setImmediate(other);
    await pages.reclaim();
    turns = false;
    const slices = order.filter((entry) => entry === 'free-pages:slice').length;
    expect(slices).toBeGreaterThan(5);
    // Never two slices in a row without other work between them.
    expect(order.join(',')).not.toContain('free-pages:slice,free-pages:slice');
  });

  it('keeps the slices that committed when a pass is cut short, and the next pass gives back the rest', async () => {
    const { db } = hubDatabase();
    writeReports(db, 1000);
    pruneAllButNewest(db, 1000);
    const before = new FreePages(db, { failures }).free;
    let slices = 0;
    const crashing = new FreePages(db, {
      failures,
      slicePages: 64,
      faults: {
        reach: () => {
          if (++slices === 3) throw new Error('killed at the third slice');
        },
      },
    });
    await expect(crashing.reclaim()).rejects.toThrow('killed at the third slice');
    expect(crashing.free).toBe(before - 3 * 64);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');

    expect(await new FreePages(db, { failures }).reclaim()).toBe(before - 3 * 64);
    expect(crashing.free).toBe(0);
  });

  it('leaves alone a database made before incremental auto-vacuum, whose free pages SQLite only reuses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-free-pages-'));
    dirs.push(dir);
    const db = new Database(join(dir, 'old.db'));
    open.push(db);
    db.exec('CREATE TABLE filler (pad TEXT)');
    const insert = db.prepare('INSERT INTO filler VALUES (?)');
    for (let i = 0; i < 500; i++) insert.run('x'.repeat(2000));
    db.exec('DELETE FROM filler');
    const pages = new FreePages(db, { failures });
    expect(pages.reclaims).toBe(false);
    const free = pages.free;
    expect(free).toBeGreaterThan(0);
    expect(await pages.reclaim()).toBe(0);
    expect(pages.free).toBe(free);
  });

  it('refuses a slice or threshold that is not a whole number of pages', () => {
    const { db } = hubDatabase();
    expect(() => new FreePages(db, { failures, slicePages: 0 })).toThrow(/slicePages must be a whole number/);
    expect(() => new FreePages(db, { failures, fromPages: 1.5 })).toThrow(/fromPages must be a whole number/);
  });
});
