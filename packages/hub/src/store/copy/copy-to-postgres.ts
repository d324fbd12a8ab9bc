import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { FlotillaError, messageOf, NO_FAULTS, type FaultPoints } from '@flotilla/protocol';
import { bundledMigrations } from '../database.ts';
import { openPostgres, WRITE_LOCK, type PostgresDatabase } from '../postgres/postgres-database.ts';
import { redactedUrl } from '../postgres/redacted-url.ts';
import {
  assertCounts,
  assertSameColumns,
  breathe,
  connectPostgres,
  DEFAULT_BATCH_ROWS,
  failure,
  postgresChain,
  quoted,
  sqliteChain,
  storeTables,
  verifyCopiedChain,
  type CopiedTable,
  type CopyStoreOptions,
  type CopyStoreResult,
  type StoreTable,
} from './copy-tables.ts';

/** PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMETERS = 60_000;
/** A batch is sent once its values pass this size, so a table of large rows is never held whole. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Copies a hub's SQLite store into an empty PostgreSQL database, which it migrates first.
 *
 * Everything is written in one PostgreSQL transaction under the hub's write lock, table by
 * table in foreign-key order and in batches of multi-row INSERTs, reading the source through
 * one consistent snapshot a row at a time. Before it commits it checks that every table holds
 * as many rows as the source's and that the audit chain verifies on the target. A copy that
 * fails, or a process killed at any point, commits nothing: the target stays as it was and
 * the copy can simply be run again. A target that already holds rows is refused unless
 * `replace`, which empties it inside the same transaction.
 *
 * Values are copied as they are stored: JSON as the text the hub wrote, integers exactly (as
 * bigint), blobs byte for byte. The target's own triggers (change logs, cache invalidation) are
 * off while rows are written, since the rows already record their effects; the audit rules
 * are checked instead by verifying the whole chain.
 */
export async function copyToPostgres(options: CopyStoreOptions): Promise<CopyStoreResult> {
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1)
    throw new TypeError(`copyToPostgres: batchRows must be a whole number from 1; received ${String(batchRows)}`);
  const faults = options.faults ?? NO_FAULTS;
  const source = openSource(options.from);
  try {
    const tables = storeTables(source);
    const target = connectPostgres(options.to, 'target', (url) => openPostgres(url, 'flotilla-store-copy'));
    try {
      return await copyInto(source, target, tables, { ...options, batchRows, faults });
    } finally {
      target.close();
    }
  } finally {
    source.close();
  }
}

function openSource(path: string): Database.Database {
  const where = `the source store ${path}`;
  if (!existsSync(path)) throw new FlotillaError('CONFIG_INVALID', `${where} does not exist`);
  let db: Database.Database;
  let version: number;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    version = db.pragma('user_version', { simple: true }) as number;
  } catch (error) {
    throw new FlotillaError('CONFIG_INVALID', `${where} is not a SQLite database: ${messageOf(error)}`);
  }
  const names = new Set(
    db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => r.name),
  );
  const newest = bundledMigrations().at(-1)?.version ?? 0;
  if (version === 0 || !names.has('meta') || !names.has('audit_entries')) {
    db.close();
    throw new FlotillaError('CONFIG_INVALID', `${where} is not a Flotilla hub store (no hub tables in it)`);
  }
  if (version > newest) {
    db.close();
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${where} has schema version ${version}, newer than this flotilla knows (${newest}); copy it with a newer flotilla`,
    );
  }
  if (version < newest) {
    db.close();
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${where} has schema version ${version}, older than this flotilla's (${newest}); start this version's hub on it once (flotilla hub serve), which upgrades it, then copy`,
    );
  }
  return db;
}

async function copyInto(
  source: Database.Database,
  target: PostgresDatabase,
  tables: readonly StoreTable[],
  options: CopyStoreOptions & { readonly batchRows: number; readonly faults: FaultPoints },
): Promise<CopyStoreResult> {
  assertSameColumns(target, tables);
  // Only the tables the copy writes: a table PostgreSQL alone has (replica leases) is not the store's.
  const targetTables = tables.map((t) => t.name).sort();

  // One snapshot of the source for the counts and every row, even if a hub still writes to it.
  source.exec('BEGIN');
  try {
    const counts = tables.map((table): CopiedTable => ({
      name: table.name,
      rows: Number(
        source
          .prepare(`SELECT count(*) FROM ${quoted(table.name)}`)
          .pluck()
          .get(),
      ),
    }));
    target.query(`BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`);
    try {
      // A hub started on the target meanwhile waits for the commit instead of reading half a store.
      target.query(`LOCK TABLE ${tables.map((t) => quoted(t.name)).join(', ')} IN ACCESS EXCLUSIVE MODE`);
      const replaced = emptyTarget(target, targetTables, options.replace === true, options.to);
      options.onPlan?.(counts);
      for (const table of tables) target.query(`ALTER TABLE ${quoted(table.name)} DISABLE TRIGGER USER`);
      let copied = 0;
      for (const table of tables) {
        copied = await copyTable(source, target, table, copied, options);
      }
      restartSequences(source, target, tables);
      for (const table of tables) target.query(`ALTER TABLE ${quoted(table.name)} ENABLE TRIGGER USER`);
      assertCounts(counts, (name) => count(target, name));
      const audit = verifyCopiedChain(sqliteChain(source), postgresChain(target));
      target.query('COMMIT');
      return { tables: counts, rows: copied, audit, replaced };
    } catch (error) {
      try {
        target.query('ROLLBACK');
      } catch {
        // A connection too broken to roll back has lost the transaction anyway.
      }
      throw error;
    }
  } finally {
    source.exec('ROLLBACK');
  }
}

/** Refuses a target that holds rows, or with `replace` empties it; answers whether it held any. */
function emptyTarget(target: PostgresDatabase, tables: readonly string[], replace: boolean, url: string): boolean {
  if (tables.length === 0) return false;
  const held = target.query(
    tables
      .map((t) => `SELECT ${quotedLiteral(t)} AS name WHERE EXISTS (SELECT 1 FROM ${quoted(t)})`)
      .join(' UNION ALL '),
  ).rows as { name: string }[];
  if (held.length === 0) return false;
  if (!replace) {
    const names = held.map((r) => r.name);
    throw new FlotillaError(
      'CONFLICT',
      `the target database ${redactedUrl(url)} already holds a store (rows in ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}); copy into an empty database, or pass --replace to empty it first`,
    );
  }
  target.query(`TRUNCATE ${tables.map(quoted).join(', ')} RESTART IDENTITY CASCADE`);
  return true;
}

function quotedLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

async function copyTable(
  source: Database.Database,
  target: PostgresDatabase,
  table: StoreTable,
  copiedBefore: number,
  options: CopyStoreOptions & { readonly batchRows: number; readonly faults: FaultPoints },
): Promise<number> {
  const columns = table.columns.map(quoted).join(', ');
  const read = source
    .prepare(`SELECT ${columns} FROM ${quoted(table.name)} ORDER BY ${table.orderBy.map(quoted).join(', ')}`)
    .raw(true)
    .safeIntegers(true);
  const width = table.columns.length;
  const rowsPerBatch = Math.max(1, Math.min(options.batchRows, Math.floor(MAX_PARAMETERS / width)));
  let copied = copiedBefore;
  let values: unknown[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    const rows = values.length / width;
    if (rows === 0) return;
    const tuples = Array.from(
      { length: rows },
      (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`,
    );
    try {
      target.query(`INSERT INTO ${quoted(table.name)} (${columns}) VALUES ${tuples.join(', ')}`, values);
    } catch (error) {
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `copying ${table.name} failed, and nothing was committed: ${failure(error)}`,
      );
    }
    copied += rows;
    values = [];
    bytes = 0;
    options.faults.reach('store-copy:batch');
    options.onProgress?.(copied, table.name);
    await breathe();
  };
  for (const row of read.iterate() as IterableIterator<unknown[]>) {
    for (const value of row) {
      values.push(value);
      bytes += typeof value === 'string' ? value.length : Buffer.isBuffer(value) ? value.length : 8;
    }
    if (values.length / width >= rowsPerBatch || bytes >= MAX_BATCH_BYTES) await flush();
  }
  await flush();
  return copied;
}

/**
 * Sets each generated key's sequence past the copied rows, and past SQLite's AUTOINCREMENT
 * high-water mark, so numbers the source has used (even on rows since deleted) are never reused.
 */
function restartSequences(source: Database.Database, target: PostgresDatabase, tables: readonly StoreTable[]): void {
  const hasSequences =
    source.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get() !== undefined;
  const used = new Map<string, number>(
    hasSequences
      ? source
          .prepare<[], { name: string; seq: number }>('SELECT name, seq FROM sqlite_sequence')
          .all()
          .map((r) => [r.name, Number(r.seq)])
      : [],
  );
  const copied = new Set(tables.map((t) => t.name));
  const generated = target.query(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')`,
  ).rows as { table_name: string; column_name: string }[];
  for (const { table_name: table, column_name: column } of generated) {
    if (!copied.has(table)) continue;
    const max = Number(
      (
        target.query(`SELECT coalesce(max(${quoted(column)}), 0) AS max FROM ${quoted(table)}`).rows[0] as {
          max: number;
        }
      ).max,
    );
    const next = Math.max(max, used.get(table) ?? 0);
    if (next > 0) target.query('SELECT setval(pg_get_serial_sequence($1, $2), $3)', [quoted(table), column, next]);
  }
}

function count(db: PostgresDatabase, table: string): number {
  return Number((db.query(`SELECT count(*) AS n FROM ${quoted(table)}`).rows[0] as { n: number }).n);
}
