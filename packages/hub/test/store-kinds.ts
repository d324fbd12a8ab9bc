import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../src/store/database.ts';
import { openPostgres, PostgresDatabase } from '../src/store/postgres/postgres-database.ts';

/**
 * The PostgreSQL server the tests use: `FLOTILLA_TEST_POSTGRES_URL`, or the local one `.ci/run`
 * starts (docs/development.md, "PostgreSQL"). Each test database is made from it and dropped.
 */
export const POSTGRES_ADMIN_URL =
  process.env['FLOTILLA_TEST_POSTGRES_URL'] ?? 'postgres://flotilla_test:flotilla@127.0.0.1:5432/postgres';

let reachable: boolean | undefined;

/**
 * Whether the test PostgreSQL answers. Under CI it must: a store test that cannot reach it
 * fails there rather than skip. Elsewhere its tests are skipped with the reason, so a
 * machine without PostgreSQL running still runs every other test.
 */
export function postgresAvailable(): boolean {
  if (reachable !== undefined) return reachable;
  let failure: unknown;
  // A test worker starting on a loaded machine can miss the 5 s connect limit once: a server
  // that is up answers one of three tries.
  for (let attempt = 0; attempt < 3 && reachable === undefined; attempt++) {
    try {
      PostgresDatabase.connect(POSTGRES_ADMIN_URL).close();
      reachable = true;
    } catch (error) {
      failure = error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  if (reachable === true) return true;
  if (process.env['CI'] !== undefined)
    throw new Error(`the test PostgreSQL at ${POSTGRES_ADMIN_URL} does not answer (CI starts it in .ci/run)`, {
      cause: failure,
    });
  process.stderr.write(`PostgreSQL tests skipped: ${POSTGRES_ADMIN_URL} does not answer (${String(failure)})\n`);
  reachable = false;
  return reachable;
}

/** A fresh, empty PostgreSQL database for one test; `drop` removes it (closing connections first). */
export function createPostgresDatabase(): { readonly url: string; drop(): void } {
  const name = `flotilla_test_${randomBytes(6).toString('hex')}`;
  const admin = PostgresDatabase.connect(POSTGRES_ADMIN_URL);
  try {
    admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`);
  } finally {
    admin.close();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop() {
      const again = PostgresDatabase.connect(POSTGRES_ADMIN_URL);
      try {
        again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        again.close();
      }
    },
  };
}

/** A hub database of one kind, migrated and empty, and how to dispose of it. */
export interface OpenedStore {
  readonly db: Db;
  close(): void;
}

export interface StoreKind {
  readonly name: 'sqlite' | 'postgres';
  /** Whether this kind can run here (see {@link postgresAvailable}). */
  readonly available: () => boolean;
  open(): OpenedStore;
}

export const SQLITE: StoreKind = {
  name: 'sqlite',
  available: () => true,
  open() {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-store-'));
    const db = openDatabase(join(dir, 'hub.db'));
    return {
      db,
      close() {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const POSTGRES: StoreKind = {
  name: 'postgres',
  available: postgresAvailable,
  open() {
    const database = createPostgresDatabase();
    const db = openPostgres(database.url);
    return {
      db,
      close() {
        db.close();
        database.drop();
      },
    };
  },
};

/**
 * Both stores, for `describe.each(STORE_KINDS)`: every store test runs on SQLite and on
 * PostgreSQL. Use `describe.skipIf(!kind.available())` inside, so an unavailable PostgreSQL is
 * reported as skipped (never under CI, where it fails instead).
 */
export const STORE_KINDS: readonly StoreKind[] = [SQLITE, POSTGRES];

/**
 * For a test hub: with `FLOTILLA_TEST_STORE=postgres`, a fresh PostgreSQL database (any hub
 * test then runs on PostgreSQL); otherwise none, and the hub keeps SQLite in its data directory.
 */
export function testHubDatabase(): { readonly url: string | undefined; drop(): void } {
  if (process.env['FLOTILLA_TEST_STORE'] !== 'postgres') return { url: undefined, drop: () => undefined };
  return createPostgresDatabase();
}
