import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { GROUP_LIMIT, transactions } from '../../src/store/transaction.ts';

function database(): { db: Database.Database; commits: () => number } {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (v INTEGER PRIMARY KEY)');
  let commits = 0;
  const original = db.transaction.bind(db);
  // Counts the outermost transactions: each is one commit.
  db.transaction = ((fn: (...args: unknown[]) => unknown) => {
    const wrapped = original(fn);
    return (...args: unknown[]) => {
      if (!db.inTransaction) commits++;
      return wrapped(...args);
    };
  }) as typeof db.transaction;
  return { db, commits: () => commits };
}

describe('grouped transactions', () => {
  it('commits the work queued in one turn of the event loop once, and settles each piece with its own result', async () => {
    const { db, commits } = database();
    const tx = transactions(db);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        tx.group(() => {
          db.prepare('INSERT INTO t (v) VALUES (?)').run(i);
          return i * 2;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    expect(commits()).toBe(1);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 100 });
  });

  it('rejects only the piece that threw; its own run rolls back and the others commit', async () => {
    const { db } = database();
    const tx = transactions(db);
    const insert = (v: number): void => void db.prepare('INSERT INTO t (v) VALUES (?)').run(v);
    const outcomes = await Promise.allSettled([
      tx.group(() => insert(1)),
      tx.group(() =>
        tx.run(() => {
          insert(2);
          throw new Error('refused');
        }),
      ),
      tx.group(() => insert(3)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(db.prepare('SELECT v FROM t ORDER BY v').all()).toEqual([{ v: 1 }, { v: 3 }]);
  });

  it(`takes at most ${GROUP_LIMIT} pieces per commit, so one commit never holds the loop for long`, async () => {
    const { db, commits } = database();
    const tx = transactions(db);
    await Promise.all(
      Array.from({ length: GROUP_LIMIT * 2 + 1 }, (_, i) =>
        tx.group(() => void db.prepare('INSERT INTO t (v) VALUES (?)').run(i)),
      ),
    );
    expect(commits()).toBe(3);
  });

  it('rejects the whole group when its commit fails', async () => {
    const { db } = database();
    const tx = transactions(db);
    db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY)');
    db.exec('CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
    db.pragma('foreign_keys = ON');
    const outcomes = await Promise.allSettled([
      tx.group(() => void db.prepare('INSERT INTO t (v) VALUES (1)').run()),
      tx.group(() => void db.prepare('INSERT INTO child (p) VALUES (42)').run()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
  });
});
