import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { FlotillaError, messageOf, NO_FAULTS, type FaultPoints, type TrustedKey } from '@flotilla/protocol';
import { assertAuditVerified, verifyAuditChain, type AuditVerifyResult } from '@flotilla/protocol/audit';
import { bundledMigrations } from '../database.ts';
import { openPostgres, WRITE_LOCK, type PostgresDatabase } from '../postgres/postgres-database.ts';
import { redactedUrl } from '../postgres/redacted-url.ts';

/** One table to copy, in the order the copy writes it. */
export interface CopiedTable {
  readonly name: string;
  readonly rows: number;
}

export interface CopyStoreOptions {
  /** The SQLite file of the hub whose store is copied (`hub.db` in its data directory). */
  readonly from: string;
  /** The PostgreSQL database to copy it into: `postgres://user:password@host:5432/db`. */
  readonly to: string;
  /** Empty a target that already holds rows, instead of refusing it. */
  readonly replace?: boolean;
  /** Called once the tables and their row counts are known, before the first row is written. */
  readonly onPlan?: (tables: readonly CopiedTable[]) => void;
  /** Called after each batch written, with the rows written so far in all. */
  readonly onProgress?: (copied: number, table: string) => void;
  /** The most rows one INSERT carries (default 500). */
  readonly batchRows?: number;
  /** Test-only crash points (`store-copy:batch`). */
  readonly faults?: FaultPoints;
}

export interface CopyStoreResult {
  readonly tables: readonly CopiedTable[];
  readonly rows: number;
  /** The audit chain as verified on the target, before the copy committed. */
  readonly audit: AuditVerifyResult;
  /** Whether the target held rows that `replace` removed. */
  readonly replaced: boolean;
}

const DEFAULT_BATCH_ROWS = 500;
/** PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMETERS = 60_000;
/** A batch is sent once its values pass this size, so a table of large rows is never held whole. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const AUDIT_PAGE = 1_000;

interface SourceTable {
  readonly name: string;
  readonly columns: readonly string[];
  readonly orderBy: readonly string[];
  readonly references: readonly string[];
}

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
export async function copyStore(options: CopyStoreOptions): Promise<CopyStoreResult> {
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1)
    throw new TypeError(`copyStore: batchRows must be a whole number from 1; received ${String(batchRows)}`);
  const faults = options.faults ?? NO_FAULTS;
  const source = openSource(options.from);
  try {
    const tables = sourceTables(source);
    const target = openTarget(options.to);
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

/** The source's tables in an order where each comes after the tables it references. */
function sourceTables(db: Database.Database): SourceTable[] {
  const names = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .all()
    .map((r) => r.name);
  const tables = names.map((name): SourceTable => {
    const columns = db
      .prepare<[string], { name: string; pk: number }>('SELECT name, pk FROM pragma_table_info(?) ORDER BY cid')
      .all(name);
    const keys = columns
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    const references = db
      .prepare<[string], { table: string }>('SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)')
      .all(name)
      .map((r) => r.table)
      .filter((t) => t !== name);
    return { name, columns: columns.map((c) => c.name), orderBy: keys.length > 0 ? keys : ['rowid'], references };
  });
  const byName = new Map(tables.map((t) => [t.name, t]));
  const ordered: SourceTable[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (table: SourceTable): void => {
    if (placed.has(table.name)) return;
    if (visiting.has(table.name))
      throw new FlotillaError('CONFIG_INVALID', `the source's tables reference each other in a cycle at ${table.name}`);
    visiting.add(table.name);
    for (const reference of table.references) {
      const referenced = byName.get(reference);
      if (referenced !== undefined) place(referenced);
    }
    visiting.delete(table.name);
    placed.add(table.name);
    ordered.push(table);
  };
  for (const table of tables) place(table);
  return ordered;
}

function openTarget(url: string): PostgresDatabase {
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new FlotillaError('CONFIG_INVALID', `the target must be a postgres:// URL; received ${redactedUrl(url)}`);
  try {
    return openPostgres(url, 'flotilla-store-copy');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `cannot use the target database ${redactedUrl(url)}: ${messageOf(error)}${typeof code === 'string' ? ` (${code})` : ''}`,
    );
  }
}

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function copyInto(
  source: Database.Database,
  target: PostgresDatabase,
  tables: readonly SourceTable[],
  options: CopyStoreOptions & { readonly batchRows: number; readonly faults: FaultPoints },
): Promise<CopyStoreResult> {
  const targetColumns = new Map<string, Set<string>>();
  for (const row of target.query(
    'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()',
  ).rows as { table_name: string; column_name: string }[]) {
    let columns = targetColumns.get(row.table_name);
    if (columns === undefined) targetColumns.set(row.table_name, (columns = new Set()));
    columns.add(row.column_name);
  }
  for (const table of tables) {
    const columns = targetColumns.get(table.name);
    const missing = columns === undefined ? ['the table'] : table.columns.filter((c) => !columns.has(c));
    if (missing.length > 0)
      throw new FlotillaError(
        'CONFIG_INVALID',
        `the target's schema does not match the source's: ${table.name} lacks ${missing.join(', ')} on PostgreSQL`,
      );
  }
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
      checkCounts(target, counts);
      const audit = verifyCopiedChain(source, target);
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
  table: SourceTable,
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
      const code = (error as { code?: unknown }).code;
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `copying ${table.name} failed, and nothing was committed: ${messageOf(error)}${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
    copied += rows;
    values = [];
    bytes = 0;
    options.faults.reach('store-copy:batch');
    options.onProgress?.(copied, table.name);
    // Lets a progress bar draw and signals arrive between batches.
    await new Promise((resolve) => setImmediate(resolve));
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
function restartSequences(source: Database.Database, target: PostgresDatabase, tables: readonly SourceTable[]): void {
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

function checkCounts(target: PostgresDatabase, counts: readonly CopiedTable[]): void {
  for (const { name, rows } of counts) {
    const found = Number((target.query(`SELECT count(*) AS n FROM ${quoted(name)}`).rows[0] as { n: number }).n);
    if (found !== rows)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `the copy of ${name} holds ${found} rows where the source holds ${rows}; nothing was committed`,
      );
  }
}

interface ChainReader {
  checkpoints(): { signed: string; key_id: string; public_key: string }[];
  entries(after: number, limit: number): { seq: number; entry: string }[];
}

function sqliteChain(db: Database.Database): ChainReader {
  return {
    checkpoints: () =>
      db
        .prepare<[], { signed: string; key_id: string; public_key: string }>(
          'SELECT signed, key_id, public_key FROM audit_checkpoints ORDER BY seq, id',
        )
        .all(),
    entries: (after, limit) =>
      db
        .prepare<[number, number], { seq: number; entry: string }>(
          'SELECT seq, entry FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT ?',
        )
        .all(after, limit),
  };
}

function postgresChain(db: PostgresDatabase): ChainReader {
  return {
    checkpoints: () =>
      db.query('SELECT signed, key_id, public_key FROM audit_checkpoints ORDER BY seq, id').rows as {
        signed: string;
        key_id: string;
        public_key: string;
      }[],
    entries: (after, limit) =>
      db.query('SELECT seq, entry FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2', [after, limit]).rows as {
        seq: number;
        entry: string;
      }[],
  };
}

/**
 * Verifies a stored chain as the audit log does (AuditLog.verify): every entry's hash and
 * link, and every checkpoint's signature by the hub keys the store recorded with it.
 */
function verifyChain(reader: ChainReader): AuditVerifyResult {
  const checkpoints = reader.checkpoints();
  const keys = new Map<string, TrustedKey>();
  for (const row of checkpoints)
    keys.set(`${row.key_id} ${row.public_key}`, {
      id: row.key_id,
      publicKey: row.public_key,
    });
  function* entries(): Generator<unknown> {
    let after = 0;
    for (;;) {
      const page = reader.entries(after, AUDIT_PAGE);
      for (const row of page) yield JSON.parse(row.entry) as unknown;
      if (page.length < AUDIT_PAGE) return;
      after = page.at(-1)!.seq;
    }
  }
  return verifyAuditChain(entries(), {
    checkpoints: checkpoints.map((row) => JSON.parse(row.signed) as unknown),
    trustedKeys: [...keys.values()],
  });
}

/** The target's chain must verify; when it does not, says whether the source's did. */
function verifyCopiedChain(source: Database.Database, target: PostgresDatabase): AuditVerifyResult {
  const result = verifyChain(postgresChain(target));
  try {
    assertAuditVerified(result);
  } catch (error) {
    const sourceOk = verifyChain(sqliteChain(source)).ok;
    throw new FlotillaError(
      'AUDIT_CHAIN_BROKEN',
      `the audit chain does not verify on the copy, so nothing was committed (${sourceOk ? 'it does on the source' : 'nor does it on the source'}): ${messageOf(error)}`,
    );
  }
  return result;
}
