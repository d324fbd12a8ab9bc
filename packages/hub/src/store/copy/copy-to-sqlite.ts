import type Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, renameSync, rmSync } from 'node:fs';
import { FlotillaError, NO_FAULTS, type FaultPoints } from '@flotilla/protocol';
import { openDatabase } from '../database.ts';
import { bundledPostgresMigrations } from '../postgres/migrate-postgres.ts';
import { PostgresDatabase } from '../postgres/postgres-database.ts';
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

const CURSOR = 'flotilla_store_copy';

/**
 * Copies a hub's PostgreSQL store into a new SQLite file: the way back from replicas to one
 * hub. The copy is built in `PATH.copying`, in one SQLite transaction read from one
 * PostgreSQL snapshot, and renamed to `PATH` only once its row counts match and its audit
 * chain verifies, so a failed or killed copy never leaves a half store at `PATH` (the next
 * run removes the leftover). An existing `PATH` is refused unless `replace`.
 */
export async function copyToSqlite(options: CopyStoreOptions): Promise<CopyStoreResult> {
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1)
    throw new TypeError(`copyToSqlite: batchRows must be a whole number from 1; received ${String(batchRows)}`);
  const faults = options.faults ?? NO_FAULTS;
  const path = options.to;
  const existed = existsSync(path);
  if (existed && options.replace !== true)
    throw new FlotillaError(
      'CONFLICT',
      `the target ${path} already exists; copy to a new file, or pass --replace to replace it`,
    );
  const source = connectPostgres(options.from, 'source', (url) => PostgresDatabase.connect(url, 'flotilla-store-copy'));
  try {
    assertPostgresStore(source, options.from);
    const partial = `${path}.copying`;
    removeDatabase(partial);
    try {
      closeSync(openSync(partial, 'wx', 0o600));
    } catch (error) {
      throw new FlotillaError('STORE_UNAVAILABLE', `cannot create ${partial}: ${failure(error)}`);
    }
    let target: Database.Database | undefined;
    try {
      target = openDatabase(partial);
      const copied = await copyInto(source, target, { ...options, batchRows, faults });
      // One self-contained file, with no -wal beside it to be lost in the rename.
      target.pragma('journal_mode = DELETE');
      target.close();
      target = undefined;
      // A -wal left by the replaced store's last hub would be replayed into the new file.
      if (existed) removeDatabase(path, false);
      renameSync(partial, path);
      return { ...copied, replaced: existed };
    } catch (error) {
      target?.close();
      removeDatabase(partial);
      throw error;
    }
  } finally {
    source.close();
  }
}

/** Removes a SQLite database's files: its -wal and -shm, and unless told otherwise the file itself. */
function removeDatabase(path: string, main = true): void {
  for (const file of main ? [path, `${path}-wal`, `${path}-shm`] : [`${path}-wal`, `${path}-shm`])
    rmSync(file, { force: true });
}

function assertPostgresStore(db: PostgresDatabase, url: string): void {
  const where = `the source database ${redactedUrl(url)}`;
  const found = db.query("SELECT to_regclass('flotilla_schema') IS NOT NULL AS found").rows[0] as { found: boolean };
  if (!found.found)
    throw new FlotillaError('CONFIG_INVALID', `${where} is not a Flotilla hub store (no hub tables in it)`);
  const version = Number(
    (db.query('SELECT coalesce(max(version), 0) AS version FROM flotilla_schema').rows[0] as { version: number })
      .version,
  );
  const newest = bundledPostgresMigrations().at(-1)?.version ?? 0;
  if (version > newest)
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${where} has schema version ${version}, newer than this flotilla knows (${newest}); copy it with a newer flotilla`,
    );
  if (version < newest)
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${where} has schema version ${version}, older than this flotilla's (${newest}); start this version's hub on it once (flotilla hub serve), which upgrades it, then copy`,
    );
}

async function copyInto(
  source: PostgresDatabase,
  target: Database.Database,
  options: CopyStoreOptions & { readonly batchRows: number; readonly faults: FaultPoints },
): Promise<Omit<CopyStoreResult, 'replaced'>> {
  const tables = storeTables(target);
  assertSameColumns(source, tables);
  source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const counts = tables.map((table): CopiedTable => ({ name: table.name, rows: count(source, table.name) }));
    options.onPlan?.(counts);
    // The new file's triggers would log and invalidate as if these rows were new: off while copying.
    const triggers = target
      .prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
      .all();
    target.exec('BEGIN');
    try {
      for (const trigger of triggers) target.exec(`DROP TRIGGER ${quoted(trigger.name)}`);
      let copied = 0;
      for (const table of tables) copied = await copyTable(source, target, table, copied, options);
      keepSequences(source, target, tables);
      for (const trigger of triggers) target.exec(trigger.sql);
      assertCounts(counts, (name) =>
        Number(
          target
            .prepare(`SELECT count(*) FROM ${quoted(name)}`)
            .pluck()
            .get(),
        ),
      );
      const audit = verifyCopiedChain(postgresChain(source), sqliteChain(target));
      target.exec('COMMIT');
      return { tables: counts, rows: copied, audit };
    } catch (error) {
      if (target.inTransaction) target.exec('ROLLBACK');
      throw error;
    }
  } finally {
    try {
      source.query('ROLLBACK');
    } catch {
      // A connection too broken to roll back has ended the transaction anyway.
    }
  }
}

function count(db: PostgresDatabase, table: string): number {
  return Number((db.query(`SELECT count(*) AS n FROM ${quoted(table)}`).rows[0] as { n: number }).n);
}

async function copyTable(
  source: PostgresDatabase,
  target: Database.Database,
  table: StoreTable,
  copiedBefore: number,
  options: CopyStoreOptions & { readonly batchRows: number; readonly faults: FaultPoints },
): Promise<number> {
  const columns = table.columns.map(quoted).join(', ');
  const insert = target.prepare(
    `INSERT INTO ${quoted(table.name)} (${columns}) VALUES (${table.columns.map(() => '?').join(', ')})`,
  );
  // PostgreSQL has no rowid: a table without a key is read in whatever order it gives.
  const order = table.orderBy[0] === 'rowid' ? '' : ` ORDER BY ${table.orderBy.map(quoted).join(', ')}`;
  source.query(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR SELECT ${columns} FROM ${quoted(table.name)}${order}`);
  let copied = copiedBefore;
  try {
    for (;;) {
      const rows = source.query(`FETCH ${options.batchRows} FROM ${CURSOR}`, [], undefined, true).rows as unknown[][];
      if (rows.length === 0) break;
      for (const row of rows)
        insert.run(row.map((value) => (value instanceof Uint8Array ? Buffer.from(value) : value)));
      copied += rows.length;
      options.faults.reach('store-copy:batch');
      options.onProgress?.(copied, table.name);
      await breathe();
    }
  } catch (error) {
    if (error instanceof FlotillaError) throw error;
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `copying ${table.name} failed, and nothing was kept: ${failure(error)}`,
    );
  }
  source.query(`CLOSE ${CURSOR}`);
  return copied;
}

/**
 * Carries PostgreSQL's generated-key sequences over to SQLite's AUTOINCREMENT record, so that
 * numbers used on PostgreSQL (even on rows since deleted) are never handed out again.
 */
function keepSequences(source: PostgresDatabase, target: Database.Database, tables: readonly StoreTable[]): void {
  const autoincrement = new Set(
    target
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'",
      )
      .all()
      .map((r) => r.name),
  );
  const copied = new Set(tables.map((t) => t.name));
  const generated = source.query(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')`,
  ).rows as { table_name: string; column_name: string }[];
  for (const { table_name: table, column_name: column } of generated) {
    if (!copied.has(table) || !autoincrement.has(table)) continue;
    const used = source.query('SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass) AS used', [
      quoted(table),
      column,
    ]).rows[0] as { used: number | null };
    const max = Number(
      target
        .prepare(`SELECT coalesce(max(${quoted(column)}), 0) FROM ${quoted(table)}`)
        .pluck()
        .get(),
    );
    const next = Math.max(max, used.used ?? 0);
    target.prepare('DELETE FROM sqlite_sequence WHERE name = ?').run(table);
    if (next > 0) target.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(table, next);
  }
}
