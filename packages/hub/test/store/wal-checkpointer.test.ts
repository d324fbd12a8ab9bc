import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { openDatabase, walFileBytes } from '../../src/store/database.ts';
import { WalCheckpointer } from '../../src/store/wal-checkpointer.ts';
import { waitFor } from '../../../../test/fixtures/wait-for.ts';

let dir: string | undefined;
let db: Database.Database | undefined;
let checkpointer: WalCheckpointer | undefined;

afterEach(async () => {
  await checkpointer?.close();
  checkpointer = undefined;
  db?.close();
  db = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function open(): { db: Database.Database; path: string } {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-wal-'));
  const path = join(dir, 'hub.db');
  db = openDatabase(path, []);
  db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  return { db, path };
}

const MiB = 1024 * 1024;

/** Commits about `bytes` of new rows in one transaction (4 KiB pages of WAL each). */
function commit(db: Database.Database, bytes: number): void {
  const insert = db.prepare('INSERT INTO filler (body) VALUES (randomblob(3000))');
  db.transaction(() => {
    for (let written = 0; written < bytes; written += 3000) insert.run();
  })();
}

function walBytes(path: string): number {
  return statSync(`${path}-wal`).size;
}

describe('WAL checkpoints off the event loop', () => {
  it('turns off the connection’s own checkpoint while the worker checkpoints', async () => {
    const opened = open();
    // A worker that checkpoints once an hour: the WAL is left to the connection alone.
    checkpointer = new WalCheckpointer(opened.db, opened.path, { intervalMs: 3_600_000 });
    await checkpointer.ready;
    expect(checkpointer.checkpointing).toBe(true);
    expect(opened.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    for (let i = 0; i < 20; i++) commit(opened.db, MiB);
    // SQLite's auto-checkpoint (1,000 pages) would have kept it near 4 MiB.
    expect(walBytes(opened.path)).toBeGreaterThan(16 * MiB);
  });

  it('keeps the WAL bounded under a steady write load', async () => {
    const opened = open();
    checkpointer = new WalCheckpointer(opened.db, opened.path, { intervalMs: 20 });
    await checkpointer.ready;
    // Each commit waits for a checkpoint that copied all of the WAL it wrote, so the worker keeps
    // pace however fast the machine writes, and the next commit starts the WAL over. A checkpoint
    // that ran while the commit was still writing saw none of it: an empty WAL, started over.
    const wholeWal = (before: number) => () => {
      const last = checkpointer!.lastCheckpoint;
      return checkpointer!.checkpoints > before && last !== undefined && last.log > 0 && last.checkpointed === last.log;
    };
    await waitFor('the schema checkpointed', wholeWal(0));
    for (let i = 0; i < 40; i++) {
      const before = checkpointer.checkpoints;
      commit(opened.db, MiB / 2);
      await waitFor('a checkpoint of the commit', wholeWal(before));
    }
    expect(walBytes(opened.path)).toBeLessThan(2 * MiB);
    expect(opened.db.prepare('SELECT count(*) AS n FROM filler').get()).toEqual({ n: 40 * 175 });
  });

  it('gives checkpoints back to the connection while the worker is lost, and replaces the worker', async () => {
    const opened = open();
    checkpointer = new WalCheckpointer(opened.db, opened.path, {
      intervalMs: 20,
      faults: [{ point: 'wal-checkpoint:worker', hit: 1 }],
    });
    await checkpointer.ready;
    commit(opened.db, 64 * 1024);
    await waitFor('the worker lost', () => !checkpointer!.checkpointing);
    expect(opened.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await waitFor('the worker replaced', () => checkpointer!.checkpointing);
    expect(opened.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = checkpointer.checkpoints;
    commit(opened.db, 64 * 1024);
    await waitFor('a checkpoint by the new worker', () => checkpointer!.checkpoints > before);
  });

  it('says when a reader on an old snapshot holds the WAL past its bound, and when it is checkpointed again', async () => {
    const opened = open();
    const lines: { msg: string; walBytes?: number }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    checkpointer = new WalCheckpointer(opened.db, opened.path, { intervalMs: 20, pinnedBytes: 2 * MiB, log });
    await checkpointer.ready;
    const reader = new Database(opened.path, { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM filler').get();
      for (let i = 0; i < 4; i++) commit(opened.db, MiB);
      const held = await waitFor('the warning', () =>
        lines.find((line) => line.msg === 'a reader holds the WAL; it grows until the reader ends'),
      );
      expect(held.walBytes).toBeGreaterThanOrEqual(2 * MiB);
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
    commit(opened.db, 64 * 1024);
    await waitFor('the all-clear', () => lines.some((line) => line.msg === 'the WAL is checkpointed again'));
  });

  it('leaves a WAL a burst grew at its size when it starts over, rather than cutting it back inside a commit of the hub', async () => {
    const opened = open();
    checkpointer = new WalCheckpointer(opened.db, opened.path, { intervalMs: 3_600_000 });
    await checkpointer.ready;
    commit(opened.db, 80 * MiB);
    const grown = walBytes(opened.path);
    // A checkpoint of everything, as the worker's after a burst: the next commit starts the WAL over.
    const other = new Database(opened.path);
    try {
      expect(other.pragma('wal_checkpoint(PASSIVE)')).toEqual([
        { busy: 0, log: expect.any(Number), checkpointed: expect.any(Number) },
      ]);
    } finally {
      other.close();
    }
    // Cutting a file of hundreds of MiB back held that commit, and the event loop, for 150-300 ms.
    commit(opened.db, 4096);
    expect(walBytes(opened.path)).toBe(grown);
    // What the hub exports as flotilla_store_wal_bytes.
    expect(walFileBytes(opened.db)).toBe(grown);
    await checkpointer.close();
    opened.db.close();
    db = undefined;
    expect(existsSync(`${opened.path}-wal`)).toBe(false);
  });

  it('closes its connection on close, so that the hub’s closing checkpoints and removes the WAL', async () => {
    const opened = open();
    checkpointer = new WalCheckpointer(opened.db, opened.path, { intervalMs: 3_600_000 });
    await checkpointer.ready;
    commit(opened.db, MiB);
    await checkpointer.close();
    expect(opened.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    opened.db.close();
    db = undefined;
    expect(existsSync(`${opened.path}-wal`)).toBe(false);
  });

  it('gives the WAL file as none while there is none, and nothing for a store in memory', () => {
    const opened = open();
    opened.db.close();
    db = undefined;
    const closed = new Database(opened.path, { readonly: true });
    try {
      expect(existsSync(`${opened.path}-wal`)).toBe(false);
      expect(walFileBytes(closed)).toBe(0);
    } finally {
      closed.close();
    }
    const memory = new Database(':memory:');
    try {
      expect(walFileBytes(memory)).toBeUndefined();
    } finally {
      memory.close();
    }
  });
});
