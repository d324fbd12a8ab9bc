import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/database.ts';
import { GROUP_LIMIT, transactions } from '../../src/store/transaction.ts';
import { STORE_KINDS, type OpenedStore } from '../store-kinds.ts';

describe.each(STORE_KINDS.map((kind) => [kind.name, kind] as const))('grouped transactions on %s', (_name, kind) => {
  describe.skipIf(!kind.available())('', () => {
    let opened: OpenedStore;
    let db: Db;
    let commits = 0;

    beforeAll(() => {
      opened = kind.open();
      db = opened.db;
      const original = db.transaction.bind(db);
      // Counts the outermost transactions: each is one commit.
      db.transaction = ((fn: (...args: unknown[]) => unknown) => {
        const wrapped = original(fn);
        return (...args: unknown[]) => {
          if (!db.inTransaction) commits++;
          return wrapped(...args);
        };
      }) as typeof db.transaction;
    });
    afterAll(() => opened?.close());

    beforeEach(() => {
      db.exec('DROP TABLE IF EXISTS child');
      db.exec('DROP TABLE IF EXISTS parent');
      db.exec('DROP TABLE IF EXISTS t');
      db.exec('CREATE TABLE t (v INTEGER PRIMARY KEY)');
      commits = 0;
    });

    const insert = (v: number): void => void db.prepare('INSERT INTO t (v) VALUES (?)').run(v);
    const stored = () => (db.prepare('SELECT v FROM t ORDER BY v').all() as { v: number }[]).map((row) => row.v);

    it('commits the work queued in one turn of the event loop once, and settles each piece with its own result', async () => {
      const tx = transactions(db);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          tx.group(() => {
            insert(i);
            return i * 2;
          }),
        ),
      );
      expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
      expect(commits).toBe(1);
      expect(stored()).toHaveLength(100);
    });

    it('rejects only the piece that threw; its own run rolls back and the others commit', async () => {
      const tx = transactions(db);
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
      expect(stored()).toEqual([1, 3]);
    });

    it('keeps what a piece wrote before it threw, as it would have without grouping', async () => {
      const tx = transactions(db);
      const outcomes = await Promise.allSettled([
        tx.group(() => {
          insert(1);
          throw new Error('refused after recording');
        }),
        tx.group(() => insert(2)),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled']);
      expect(stored()).toEqual([1, 2]);
    });

    it('rejects only the piece whose statement failed; the others commit', async () => {
      const tx = transactions(db);
      insert(7);
      const outcomes = await Promise.allSettled([
        tx.group(() => insert(1)),
        tx.group(() => insert(7)),
        tx.group(() => insert(3)),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(stored()).toEqual([1, 3, 7]);
    });

    it(`takes at most ${GROUP_LIMIT} pieces per commit, so one commit never holds the loop for long`, async () => {
      const tx = transactions(db);
      await Promise.all(Array.from({ length: GROUP_LIMIT * 2 + 1 }, (_, i) => tx.group(() => insert(i))));
      expect(commits).toBe(3);
    });

    it('rejects the whole group when its commit fails', async () => {
      const tx = transactions(db);
      db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY)');
      db.exec('CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
      const outcomes = await Promise.allSettled([
        tx.group(() => insert(1)),
        tx.group(() => void db.prepare('INSERT INTO child (p) VALUES (42)').run()),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      expect(stored()).toEqual([]);
    });
  });
});
