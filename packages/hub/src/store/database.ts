import Database from 'better-sqlite3';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

import type { SqlDatabase } from './sql.ts';

/** The hub's database: SQLite (better-sqlite3) or PostgreSQL, as its stores use it (see sql.ts). */
export type Db = SqlDatabase;

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The numbered migrations in a folder, in order: `NNN-name.sql`. */
export function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{3}-[a-z0-9-]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

/** The numbered SQLite migrations shipped with the hub. */
export function bundledMigrations(): Migration[] {
  return readMigrations(MIGRATIONS_DIR);
}

export interface OpenDatabaseOptions {
  /**
   * Test-only: the most pages this connection lets the database grow to (SQLite's
   * `max_page_count`), so a test fills the store for real, with `SQLITE_FULL` from SQLite
   * itself, where it cannot fill a disk. Set before the migrations, which may then fail too.
   */
  readonly testMaxPageCount?: number;
}

/**
 * Opens (creating if needed) the hub database and brings its schema up to date. WAL lets
 * readers proceed during a write; NORMAL synchronous is durable across process crashes
 * and loses at most the last transactions on power loss, the usual trade for WAL.
 */
export function openDatabase(
  path: string,
  migrations: readonly Migration[] = bundledMigrations(),
  options: OpenDatabaseOptions = {},
): Database.Database {
  const db = new Database(path);
  // Set before the first table, where alone it takes effect: the pages pruning frees can then
  // be given back to the file system (FreePages). An older file keeps its mode until
  // `flotilla store compact` rewrites it.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // The hub is the only writer: a lock held elsewhere (a backup, an operator's sqlite3 shell)
  // is an outage to report at once (StoreHealth), not a wait that stalls the event loop.
  db.pragma('busy_timeout = 100');
  // Temporary files (statement journals of nested savepoints, which spill to disk past 64 KiB,
  // and large sorts) kept in memory: a grouped commit of a few hundred reports opens no file,
  // so a hub out of file descriptors still answers the requests it accepted.
  db.pragma('temp_store = MEMORY');
  // Pages of the file are read through the memory map, which the kernel may drop and refill;
  // the cache holds what the map cannot serve: pages written, and their newer versions in
  // the WAL. A rollout rewrites every member's rows, so a larger cache fills with them and
  // stays full: at 256 MiB it was about 60 MB of a 6,000-agent hub's 160 MB rise over idle
  // (docs/operations.md, "Sizing"), and 16 MiB converged as fast. SQLite's default 2 MiB
  // made the SQL fleet query about twice as slow.
  db.pragma('cache_size = -16384');
  db.pragma('mmap_size = 1073741824');
  // No journal_size_limit: with one, the first commit after the WAL starts over cuts the file
  // back, and cutting back what a burst grew (hundreds of MiB when 18,000 agents enroll) held
  // that commit, and the event loop, for 150-300 ms. The WAL keeps its largest size, which
  // SQLite writes over from the start, until a clean stop removes it (docs/operations.md).
  if (options.testMaxPageCount !== undefined) {
    if (!Number.isInteger(options.testMaxPageCount) || options.testMaxPageCount < 1)
      throw new TypeError(
        `openDatabase: testMaxPageCount must be a whole number of pages, at least 1; received ${String(options.testMaxPageCount)}`,
      );
    db.pragma(`max_page_count = ${options.testMaxPageCount}`);
  }
  migrate(db, migrations);
  return db;
}

function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new Error(
      `the database schema is version ${current}, newer than this hub knows (${newest}); run a newer hub`,
    );
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}

/**
 * The size on disk of a SQLite store's write-ahead log (0 while there is none); undefined for a
 * store in memory, or when the file cannot be looked at (a scrape then goes without the gauge).
 * The hub's commits never cut it back (see openDatabase), so after a burst it stays as large as
 * the burst made it until a clean stop: an operator's to watch.
 */
export function walFileBytes(db: Database.Database): number | undefined {
  if (db.memory) return undefined;
  try {
    return statSync(`${db.name}-wal`).size;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 0 : undefined;
  }
}
