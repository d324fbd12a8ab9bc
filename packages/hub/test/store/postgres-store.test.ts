import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlotillaError } from '@flotilla/protocol';
import { openDatabase } from '../../src/store/database.ts';
import { bundledPostgresMigrations, migratePostgres } from '../../src/store/postgres/migrate-postgres.ts';
import { PostgresDatabase, PostgresError, WRITE_LOCK } from '../../src/store/postgres/postgres-database.ts';
import { isStorageError } from '../../src/store/store-health.ts';
import { createPostgresDatabase, postgresAvailable } from '../store-kinds.ts';

interface Column {
  table: string;
  column: string;
  kind: string;
  notNull: boolean;
}

/** Tables only PostgreSQL has: the replicas' leases and change log (one SQLite process is the only replica). */
const REPLICA_TABLES = new Set(['replica_leases', 'replica_changes']);

/** SQLite's column types as their PostgreSQL counterparts in migrations-postgres. */
const TYPES: Record<string, string> = { INTEGER: 'bigint', TEXT: 'text', REAL: 'double precision', BLOB: 'bytea' };

describe.skipIf(!postgresAvailable())('the PostgreSQL store', () => {
  let database: ReturnType<typeof createPostgresDatabase>;
  let db: PostgresDatabase;

  beforeAll(() => {
    database = createPostgresDatabase();
    db = PostgresDatabase.connect(database.url);
    migratePostgres(db);
  });

  afterAll(() => {
    db?.close();
    database?.drop();
  });

  it('has every table and column of the SQLite schema, with matching types and nullability', () => {
    const sqlite = openDatabase(':memory:');
    const tables = (
      sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all() as { name: string }[]
    ).map((t) => t.name);
    const expected: Column[] = tables.flatMap((table) =>
      (sqlite.pragma(`table_info(${table})`) as { name: string; type: string; notnull: number; pk: number }[]).map(
        (c) => ({ table, column: c.name, kind: TYPES[c.type]!, notNull: c.notnull === 1 || c.pk > 0 }),
      ),
    );
    sqlite.close();
    const actual = db.query(
      `SELECT table_name AS table, column_name AS column, data_type AS kind, is_nullable = 'NO' AS "notNull"
           FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'flotilla_schema'`,
    ).rows as Column[];
    const shared = actual.filter((c) => !REPLICA_TABLES.has(c.table));
    expect(expected.length).toBeGreaterThan(150);
    const key = (c: Column) => `${c.table}.${c.column}`;
    expect(shared.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
      expected.sort((a, b) => key(a).localeCompare(key(b))),
    );
  });

  it('applies each migration once, however many replicas start at once', () => {
    const other = PostgresDatabase.connect(database.url);
    try {
      migratePostgres(other);
      expect(other.query('SELECT count(*) AS n FROM flotilla_schema').rows).toEqual([
        { n: bundledPostgresMigrations().length },
      ]);
    } finally {
      other.close();
    }
  });

  it('refuses a schema newer than this hub knows', () => {
    expect(() => migratePostgres(db, [])).toThrow(/schema is version \d+, newer than this hub knows \(0\)/);
  });

  it('reads integers as numbers and bytea as Buffers, as SQLite answers them', () => {
    db.exec('CREATE TEMP TABLE kinds (n bigint, d double precision, b bytea, t text)');
    db.prepare('INSERT INTO kinds VALUES (?, ?, ?, ?)').run(2 ** 52, 1.5, Buffer.from([0, 255]), 'x');
    const row = db.prepare('SELECT n, d, b, t, count(*) OVER () AS c FROM kinds').get() as Record<string, unknown>;
    expect(row).toEqual({ n: 2 ** 52, d: 1.5, b: Buffer.from([0, 255]), t: 'x', c: 1 });
    expect(Buffer.isBuffer(row['b'])).toBe(true);
  });

  it('refuses an integer past 2^53 rather than lose its digits', () => {
    expect(() => db.prepare('SELECT 9007199254740993::bigint AS n').get()).toThrow(/does not fit a JavaScript number/);
  });

  it('binds @name parameters from an object and ? parameters in order', () => {
    expect(db.prepare('SELECT @a::text AS a, @b::bigint AS b, @a::text AS again').get({ a: 'x', b: 2 })).toEqual({
      a: 'x',
      b: 2,
      again: 'x',
    });
    expect(db.prepare("SELECT ?::text AS a, '?' AS literal, ?::bigint AS b").get('y', 3)).toEqual({
      a: 'y',
      literal: '?',
      b: 3,
    });
    expect(() => db.prepare('SELECT @a::text AS a').get({})).toThrow(/missing named parameter "a"/);
  });

  it('rolls a failed transaction back whole, and a failed nested one back to its savepoint', () => {
    db.exec('CREATE TABLE tx_items (id bigint PRIMARY KEY)');
    const insert = db.prepare('INSERT INTO tx_items (id) VALUES (?)');
    const count = () => (db.prepare('SELECT count(*) AS n FROM tx_items').get() as { n: number }).n;
    expect(() =>
      db.transaction(() => {
        insert.run(1);
        insert.run(1);
      })(),
    ).toThrow(PostgresError);
    expect(count()).toBe(0);
    db.transaction(() => {
      insert.run(2);
      expect(() => db.transaction(() => insert.run(2))()).toThrow(expect.objectContaining({ code: '23505' }));
      insert.run(3);
    })();
    expect(count()).toBe(2);
    expect(db.inTransaction).toBe(false);
  });

  it('keeps the audit chain rules in the database: an entry that does not extend the head is refused', () => {
    const insert = db.prepare(
      "INSERT INTO audit_entries (seq, time_ms, actor_kind, actor_id, action, outcome, hash, prev_hash, entry) VALUES (?, 0, 'system', 'hub', 'x', 'success', ?, ?, '{}')",
    );
    expect(() => insert.run(5, 'sha256:a', 'sha256:b')).toThrow(/does not extend the chain/);
    insert.run(1, 'sha256:a', `sha256:${'0'.repeat(64)}`);
    expect(() => db.prepare("UPDATE audit_entries SET action = 'y'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_entries').run()).toThrow(/only by pruning/);
  });

  it('gives up waiting for the write lock a stuck replica holds, as a storage failure, instead of stalling the hub', () => {
    const stuck = PostgresDatabase.connect(database.url, 'stuck-replica');
    const waiting = PostgresDatabase.connect(database.url, 'waiting-replica', { lockTimeoutMs: 300 });
    try {
      stuck.query(`BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`);
      const started = Date.now();
      let refused: unknown;
      try {
        waiting.transaction(() => waiting.query('SELECT 1'))();
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(PostgresError);
      expect((refused as PostgresError).code).toBe('55P03');
      expect(isStorageError(refused)).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
      stuck.query('COMMIT');
      expect(waiting.transaction(() => waiting.query('SELECT 1 AS one').rows)()).toEqual([{ one: 1 }]);
    } finally {
      stuck.close();
      waiting.close();
    }
  });

  it('names a connection it cannot make', () => {
    expect(() => PostgresDatabase.connect('postgres://nobody:wrong@127.0.0.1:1/none')).toThrow(
      expect.objectContaining({ code: 'ECONNREFUSED' }),
    );
    expect(isFlotillaError(new PostgresError({ message: 'x', code: '1' }))).toBe(false);
  });

  /** Ends the backend of every connection named `application` to this test's database, as an administrator would. */
  function terminate(application: string): void {
    const admin = PostgresDatabase.connect(database.url, 'terminator');
    try {
      const ended = admin.query(
        'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
        [application],
      ).rows;
      expect(ended).toEqual([{ ended: true }]);
    } finally {
      admin.close();
    }
  }

  it('fails a statement on a terminated backend as a lost connection, and connects again for the next', () => {
    const hub = PostgresDatabase.connect(database.url, 'reconnect-test');
    try {
      expect(hub.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
      terminate('reconnect-test');
      // The statement that finds the connection gone may fail (the session it ran in is lost)…
      let failure: unknown;
      try {
        hub.prepare('SELECT 1 AS one').get();
      } catch (error) {
        failure = error;
      }
      if (failure !== undefined) expect(failure).toMatchObject({ code: expect.stringMatching(/^(08|57P01)/) });
      // …and the next one runs on a new connection, prepared statements and all.
      expect(hub.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
      expect(hub.transaction(() => hub.prepare('SELECT 2 AS two').get())()).toEqual({ two: 2 });
    } finally {
      hub.close();
    }
  });

  it('fails the rest of a transaction whose connection was lost, and never runs it on a new one', () => {
    const hub = PostgresDatabase.connect(database.url, 'reconnect-in-transaction');
    hub.exec('CREATE TABLE lost_items (id bigint PRIMARY KEY)');
    const insert = hub.prepare('INSERT INTO lost_items (id) VALUES (?)');
    try {
      expect(() =>
        hub.transaction(() => {
          insert.run(1);
          terminate('reconnect-in-transaction');
          insert.run(2);
        })(),
      ).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(08|57P01)/) }));
      expect(hub.inTransaction).toBe(false);
      expect(hub.prepare('SELECT count(*) AS n FROM lost_items').get()).toEqual({ n: 0 });
      hub.transaction(() => insert.run(3))();
      expect(hub.prepare('SELECT id FROM lost_items').all()).toEqual([{ id: 3 }]);
    } finally {
      hub.close();
    }
  });

  it('refuses to pass off as committed a transaction PostgreSQL rolled back', () => {
    db.exec('CREATE TABLE swallowed (id bigint PRIMARY KEY)');
    const insert = db.prepare('INSERT INTO swallowed (id) VALUES (?)');
    expect(() =>
      db.transaction(() => {
        insert.run(1);
        try {
          insert.run(1);
        } catch {
          // A store that carries on after a failed statement, as SQLite would let it.
        }
      })(),
    ).toThrow(expect.objectContaining({ code: '25P02' }));
    expect(db.prepare('SELECT count(*) AS n FROM swallowed').get()).toEqual({ n: 0 });
  });
});
