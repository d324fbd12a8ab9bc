import type Database from 'better-sqlite3';
import { FlotillaError, messageOf, type FaultPoints, type TrustedKey } from '@flotilla/protocol';
import { assertAuditVerified, verifyAuditChain, type AuditVerifyResult } from '@flotilla/protocol/audit';
import type { PostgresDatabase } from '../postgres/postgres-database.ts';
import { redactedUrl } from '../postgres/redacted-url.ts';

/** One table copied, in the order the copy writes it, with the rows the source holds. */
export interface CopiedTable {
  readonly name: string;
  readonly rows: number;
}

/** A copy between the hub's two stores: SQLite (a file) and PostgreSQL (a URL). */
export interface CopyStoreOptions {
  /** The store copied: a SQLite file path, or a `postgres://` URL. */
  readonly from: string;
  /** The store written, the other kind. */
  readonly to: string;
  /** Replace a target that already holds a store, instead of refusing it. */
  readonly replace?: boolean;
  /** Called once the tables and their row counts are known, before the first row is written. */
  readonly onPlan?: (tables: readonly CopiedTable[]) => void;
  /** Called after each batch written, with the rows written so far in all. */
  readonly onProgress?: (copied: number, table: string) => void;
  /** The most rows one batch carries (default 500). */
  readonly batchRows?: number;
  /** Test-only crash points (`store-copy:batch`). */
  readonly faults?: FaultPoints;
}

export interface CopyStoreResult {
  readonly tables: readonly CopiedTable[];
  readonly rows: number;
  /** The audit chain as verified on the target, before the copy committed. */
  readonly audit: AuditVerifyResult;
  /** Whether the target held a store that `replace` replaced. */
  readonly replaced: boolean;
}

export const DEFAULT_BATCH_ROWS = 500;
const AUDIT_PAGE = 1_000;

/** A table of the hub's schema as SQLite declares it: what the copy reads and writes, and in what order. */
export interface StoreTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** Its primary key, or SQLite's rowid: rows are copied in this order. */
  readonly orderBy: readonly string[];
  readonly references: readonly string[];
}

export function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The tables of a SQLite hub store, each after the tables it references. */
export function storeTables(db: Database.Database): StoreTable[] {
  const names = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .all()
    .map((r) => r.name);
  const tables = names.map((name): StoreTable => {
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
  const ordered: StoreTable[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (table: StoreTable): void => {
    if (placed.has(table.name)) return;
    if (visiting.has(table.name))
      throw new FlotillaError('CONFIG_INVALID', `the store's tables reference each other in a cycle at ${table.name}`);
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

/** Refuses unless PostgreSQL has every table and column of the SQLite schema (it may have more). */
export function assertSameColumns(postgres: PostgresDatabase, tables: readonly StoreTable[]): void {
  const found = new Map<string, Set<string>>();
  for (const row of postgres.query(
    'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()',
  ).rows as { table_name: string; column_name: string }[]) {
    let columns = found.get(row.table_name);
    if (columns === undefined) found.set(row.table_name, (columns = new Set()));
    columns.add(row.column_name);
  }
  for (const table of tables) {
    const columns = found.get(table.name);
    const missing = columns === undefined ? ['the table'] : table.columns.filter((c) => !columns.has(c));
    if (missing.length > 0)
      throw new FlotillaError(
        'CONFIG_INVALID',
        `the two schemas differ: ${table.name} lacks ${missing.join(', ')} on PostgreSQL`,
      );
  }
}

/** Connects to a PostgreSQL store (`open` migrates or not); an unreachable one is `STORE_UNAVAILABLE`, named without its password. */
export function connectPostgres(
  url: string,
  role: 'source' | 'target',
  open: (url: string) => PostgresDatabase,
): PostgresDatabase {
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new FlotillaError('CONFIG_INVALID', `the ${role} must be a postgres:// URL; received ${redactedUrl(url)}`);
  try {
    return open(url);
  } catch (error) {
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `cannot use the ${role} database ${redactedUrl(url)}: ${failure(error)}`,
    );
  }
}

/** An error's message, with PostgreSQL's SQLSTATE or the socket's code where it has one. */
export function failure(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return `${messageOf(error)}${typeof code === 'string' ? ` (${code})` : ''}`;
}

/** The rows a copy wrote must be as many as the source holds, table by table. */
export function assertCounts(counts: readonly CopiedTable[], copied: (table: string) => number): void {
  for (const { name, rows } of counts) {
    const found = copied(name);
    if (found !== rows)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `the copy of ${name} holds ${found} rows where the source holds ${rows}; nothing was committed`,
      );
  }
}

/** The audit tables of one store, read for verification. */
export interface ChainReader {
  checkpoints(): { signed: string; key_id: string; public_key: string }[];
  entries(after: number, limit: number): { seq: number; entry: string }[];
}

export function sqliteChain(db: Database.Database): ChainReader {
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

export function postgresChain(db: PostgresDatabase): ChainReader {
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
 * Verifies a stored chain with the verifier the audit log uses (AuditLog.verify): every
 * entry's hash and link, and every checkpoint's signature by the hub keys the store recorded
 * with it.
 */
function verifyChain(reader: ChainReader): AuditVerifyResult {
  const checkpoints = reader.checkpoints();
  const keys = new Map<string, TrustedKey>();
  for (const row of checkpoints)
    keys.set(`${row.key_id} ${row.public_key}`, { id: row.key_id, publicKey: row.public_key });
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

/** The copy's chain must verify; when it does not, the error says whether the source's does. */
export function verifyCopiedChain(source: ChainReader, target: ChainReader): AuditVerifyResult {
  const result = verifyChain(target);
  try {
    assertAuditVerified(result);
  } catch (error) {
    const sourceOk = verifyChain(source).ok;
    throw new FlotillaError(
      'AUDIT_CHAIN_BROKEN',
      `the audit chain does not verify on the copy, so nothing was committed (${sourceOk ? 'it does on the source' : 'nor does it on the source'}): ${messageOf(error)}`,
    );
  }
  return result;
}

/** Lets a progress bar draw and signals arrive between batches. */
export function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
