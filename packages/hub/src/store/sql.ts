import type BetterSqlite3 from 'better-sqlite3';

/**
 * The hub's database as its stores use it: prepared statements run synchronously, and
 * transactions as functions. better-sqlite3's Database is this interface as it is; the
 * PostgreSQL store implements it too (postgres/postgres-database.ts), so every store runs on
 * either. `dialect` picks a statement's text where the two SQL dialects differ.
 */
export type Dialect = 'sqlite' | 'postgres';

export interface RunResult {
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

export interface Statement<P extends unknown[] = unknown[], R = unknown> {
  run(...params: P): RunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
  iterate(...params: P): IterableIterator<R>;
  /** Rows as arrays of column values instead of objects. */
  raw(toggle?: boolean): this;
}

/**
 * better-sqlite3's transaction function type, which the PostgreSQL store implements too:
 * `deferred` runs the work as a consistent read without the write lock.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own bound
export type Transaction<F extends (...args: any[]) => unknown> = BetterSqlite3.Transaction<F>;

export interface SqlDatabase {
  readonly dialect?: Dialect;
  prepare<P extends unknown[] | object = unknown[], R = unknown>(
    source: string,
  ): P extends unknown[] ? Statement<P, R> : Statement<[P], R>;
  /** Wraps `fn` so that each call runs in one transaction, or a savepoint inside an open one. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own bound, which must fit
  transaction<F extends (...args: any[]) => unknown>(fn: F): Transaction<F>;
  readonly inTransaction: boolean;
  exec(source: string): unknown;
  close(): unknown;
}

/** The dialect of a database; better-sqlite3's own Database names none and is SQLite. */
export function dialectOf(db: SqlDatabase): Dialect {
  return db.dialect ?? 'sqlite';
}

/** A statement's text for the database's dialect, where the two differ. */
export function forDialect(db: SqlDatabase, texts: { readonly sqlite: string; readonly postgres: string }): string {
  return texts[dialectOf(db)];
}

/** The code a database error carries: SQLite's (`SQLITE_CONSTRAINT_UNIQUE`, …) or PostgreSQL's SQLSTATE (`23505`, …). */
function errorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether a statement failed because a row with the same unique key or primary key exists, on either database. */
export function isUniqueViolation(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
