import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ReplicaChanges } from '../../../src/features/replicas/replica-changes.ts';
import { openPostgres, type PostgresDatabase } from '../../../src/store/postgres/postgres-database.ts';
import { createPostgresDatabase, postgresAvailable } from '../../store-kinds.ts';

const log = pino({ level: 'silent' });

describe.skipIf(!postgresAvailable())('changes committed on one replica, taken in by the others', () => {
  let database: ReturnType<typeof createPostgresDatabase>;
  let a: PostgresDatabase;
  let b: PostgresDatabase;
  let feeds: ReplicaChanges[];

  beforeAll(() => {
    database = createPostgresDatabase();
  });

  afterAll(() => database.drop());

  beforeEach(() => {
    a = openPostgres(database.url);
    b = openPostgres(database.url);
    a.exec('DELETE FROM replica_changes; DELETE FROM incidents; DELETE FROM targets');
    feeds = [];
  });

  afterEach(async () => {
    for (const feed of feeds) await feed.close();
    a.close();
    b.close();
  });

  function feed(db: PostgresDatabase, replica: string, gapMs?: number, pollMs?: number): ReplicaChanges {
    const made = new ReplicaChanges({
      db,
      replica,
      log,
      ...(gapMs === undefined ? {} : { gapMs }),
      ...(pollMs === undefined ? {} : { pollMs }),
    });
    feeds.push(made);
    return made;
  }

  function enroll(db: PostgresDatabase, id: string): void {
    db.prepare(
      `INSERT INTO targets (id, name, status, public_key, key_id, enrolled_at, last_changed_at, last_changed_by)
       VALUES (?, ?, 'active', 'k', 'kid', 1, 1, 'test')`,
    ).run(id, id);
  }

  function setGeneration(db: PostgresDatabase, id: string, generation: number): void {
    db.transaction(() =>
      db
        .prepare('UPDATE targets SET desired_generation = ?, envelope = ? WHERE id = ?')
        .run(generation, `e${generation}`, id),
    )();
  }

  it('names the targets another replica changed, and which of them got a new envelope', () => {
    const fromA = feed(a, 'replica-a');
    const onB = feed(b, 'replica-b');
    const changed: string[][] = [];
    const envelopes: string[][] = [];
    onB.on('target', { stale: (keys) => changed.push([...keys]) });
    onB.on('target-envelope', { stale: (keys) => envelopes.push([...keys]) });
    a.transaction(() => {
      enroll(a, 't1');
      enroll(a, 't2');
    })();
    setGeneration(a, 't2', 1);
    expect(onB.catchUp()).toBe(4);
    expect(changed).toEqual([['t1', 't2']]);
    expect(envelopes).toEqual([['t2']]);
    expect(fromA.catchUp()).toBe(0);
  });

  it('takes each change in once', () => {
    feed(a, 'replica-a');
    const onB = feed(b, 'replica-b');
    const seen: string[] = [];
    onB.on('incident', { stale: (keys) => seen.push(...keys) });
    a.prepare(
      `INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES ('inc1', '', 'r', 'open', 1, 'x')`,
    ).run();
    onB.catchUp();
    onB.catchUp();
    expect(seen).toEqual(['inc1']);
  });

  it('is in step inside a write transaction before the transaction reads anything', () => {
    feed(a, 'replica-a');
    const onB = feed(b, 'replica-b');
    enroll(a, 't1');
    const cache = new Map([['t1', 0]]);
    onB.on('target-envelope', { stale: (keys) => keys.forEach((k) => cache.delete(k)) });
    setGeneration(a, 't1', 3);
    const seenInside = b.transaction(() => cache.get('t1'))();
    expect(seenInside).toBeUndefined();
  });

  it('wakes waiters in a later turn, outside the transaction', async () => {
    feed(a, 'replica-a');
    const onB = feed(b, 'replica-b');
    enroll(a, 't1');
    const woken: { keys: string[]; inTransaction: boolean }[] = [];
    onB.on('target-envelope', { wake: (keys) => woken.push({ keys: [...keys], inTransaction: b.inTransaction }) });
    setGeneration(a, 't1', 1);
    b.transaction(() => undefined)();
    expect(woken).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toEqual([{ keys: ['t1'], inTransaction: false }]);
  });

  it('hears a change at its commit, without a write of its own', async () => {
    feed(a, 'replica-a');
    // Its own reading of the log is an hour away: only the commit's notification can wake it in the test's time.
    const onB = feed(b, 'replica-b', undefined, 3_600_000);
    enroll(a, 't1');
    const woken = vi.fn();
    onB.on('target-envelope', { wake: woken });
    await onB.start();
    setGeneration(a, 't1', 1);
    await vi.waitFor(() => expect(woken).toHaveBeenCalledWith(new Set(['t1'])), { timeout: 20_000, interval: 10 });
  });

  it('takes in a change whose transaction committed after a later one', () => {
    const onB = feed(b, 'replica-b');
    const seen: string[] = [];
    onB.on('incident', { stale: (keys) => seen.push(...keys) });
    const open = (db: PostgresDatabase, id: string) =>
      db
        .prepare(
          `INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES (?, '', 'r', 'open', 1, 'x')`,
        )
        .run(id);
    // The first transaction takes its number, the second a later one and commits first.
    a.exec('BEGIN');
    open(a, 'first');
    const c = openPostgres(database.url);
    try {
      open(c, 'second');
      onB.catchUp();
      expect(seen).toEqual(['second']);
      a.exec('COMMIT');
      onB.catchUp();
      expect(seen).toEqual(['second', 'first']);
    } finally {
      c.close();
    }
  });

  it('gives a missing number up once a rolled-back transaction clearly took it', () => {
    const onB = feed(b, 'replica-b', 0);
    const seen: string[] = [];
    onB.on('incident', { stale: (keys) => seen.push(...keys) });
    const open = (id: string) =>
      a
        .prepare(
          `INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES (?, '', 'r', 'open', 1, 'x')`,
        )
        .run(id);
    expect(() =>
      a.transaction(() => {
        open('rolled-back');
        throw new Error('no');
      })(),
    ).toThrow('no');
    open('kept');
    onB.catchUp();
    onB.catchUp();
    open('later');
    onB.catchUp();
    expect(seen).toEqual(['kept', 'later']);
  });

  it('takes in changes after the log numbers jumped far ahead', () => {
    const onB = feed(b, 'replica-b');
    const seen: string[] = [];
    onB.on('incident', { stale: (keys) => seen.push(...keys) });
    a.exec(
      `SELECT setval(pg_get_serial_sequence('replica_changes', 'seq'), nextval(pg_get_serial_sequence('replica_changes', 'seq')) + 1000000)`,
    );
    a.prepare(
      `INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES ('far', '', 'r', 'open', 1, 'x')`,
    ).run();
    onB.catchUp();
    a.prepare(
      `INSERT INTO incidents (id, selector, reason, state, opened_at, opened_by) VALUES ('next', '', 'r', 'open', 1, 'x')`,
    ).run();
    onB.catchUp();
    expect(seen).toEqual(['far', 'next']);
  });
});
