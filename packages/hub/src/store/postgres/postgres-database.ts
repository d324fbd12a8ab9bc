import { fileURLToPath } from 'node:url';
import { createSyncFn } from 'synckit';
import type { RunResult, SqlDatabase, Statement } from '../sql.ts';
import { migratePostgres } from './migrate-postgres.ts';
import { translateSql, type TranslatedSql } from './translate-sql.ts';

/** A failure PostgreSQL (or the connection to it) answered: `code` is its SQLSTATE, or a socket error's code. */
export class PostgresError extends Error {
  readonly code: string;
  readonly detail: string | undefined;
  readonly constraint: string | undefined;

  constructor(failure: WorkerFailure['error']) {
    super(failure.message);
    this.name = 'PostgresError';
    this.code = failure.code;
    this.detail = failure.detail;
    this.constraint = failure.constraint;
  }
}

interface WorkerFailure {
  readonly ok: false;
  readonly error: { message: string; code: string; detail?: string; constraint?: string };
}
type WorkerAnswer<T> = { readonly ok: true; readonly value: T } | WorkerFailure;
interface QueryAnswer {
  readonly rows: unknown[];
  readonly rowCount: number;
  /** The command tag of the (last) statement: `COMMIT`, or `ROLLBACK` for a commit of a failed transaction. */
  readonly command: string;
}

type Call = {
  (op: 'open', url: string, applicationName: string, limits: Required<PostgresLimits>): WorkerAnswer<number>;
  (
    op: 'query',
    id: number,
    text: string,
    values: readonly unknown[],
    name: string | undefined,
    arrays: boolean,
    fresh: boolean,
  ): WorkerAnswer<QueryAnswer>;
  (op: 'close', id: number): WorkerAnswer<null>;
};

const WORKER = fileURLToPath(new URL('./postgres-worker.mjs', import.meta.url));
let call: Call | undefined;

function worker(): Call {
  call ??= createSyncFn(WORKER) as unknown as Call;
  return call;
}

function unwrap<T>(answer: WorkerAnswer<T>): T {
  if (!answer.ok) throw new PostgresError(answer.error);
  return answer.value;
}

/**
 * How long a statement may wait, since the hub's thread waits with it: for a lock (the write
 * lock another replica holds), for the statement itself, and how long a session may sit in an
 * open transaction before PostgreSQL ends it. Past each the statement fails as the store being
 * unavailable (55P03, 57014, 25P03), which the hub answers 503 with Retry-After.
 */
export interface PostgresLimits {
  readonly lockTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  readonly idleInTransactionMs?: number;
}

const DEFAULT_LIMITS: Required<PostgresLimits> = {
  lockTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  idleInTransactionMs: 60_000,
};

/**
 * The one lock every write transaction takes first, held to its commit: writes from every
 * replica on one database run one at a time, as SQLite's writes do, so what a transaction
 * reads after taking it is what it writes on.
 */
export const WRITE_LOCK = 0x466c6f74;

/** bytea values arrive from the worker as Uint8Array; the stores read Buffers, as from SQLite. */
function buffers(row: unknown): unknown {
  if (Array.isArray(row)) {
    for (let i = 0; i < row.length; i++) if (row[i] instanceof Uint8Array) row[i] = Buffer.from(row[i] as Uint8Array);
    return row;
  }
  const record = row as Record<string, unknown>;
  for (const key in record) {
    const value = record[key];
    if (value instanceof Uint8Array) record[key] = Buffer.from(value);
  }
  return record;
}

/**
 * A PostgreSQL database with the synchronous interface the hub's stores use (sql.ts): one
 * connection, whose calls run in a worker thread while this thread waits. Statements written
 * with `?` or `@name` parameters run as server-side prepared statements. A transaction takes
 * {@link WRITE_LOCK}; one nested inside it is a savepoint.
 *
 * When the connection is lost (the server restarted, the backend was terminated, the network
 * failed) the statement fails with the connection's error (SQLSTATE class 08, 57P01–57P03, or
 * a socket error's code: a storage failure, see store-health.ts), and so does the rest of an
 * open transaction. The next statement outside a transaction connects again first, and fails
 * the same way while the server cannot be reached: a restarted server needs no restarted hub.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  private readonly id: number;
  private depth = 0;
  private closed = false;
  private readonly names = new Map<string, string>();
  private readonly writeLockHooks: (() => void)[] = [];
  /** The URL it connected to: replicas open their listening connection to the same database. */
  readonly url: string;

  private constructor(id: number, url: string) {
    this.id = id;
    this.url = url;
  }

  /** Connects to `url` (`postgres://user:password@host:port/database`). */
  static connect(url: string, applicationName = 'flotilla-hub', limits: PostgresLimits = {}): PostgresDatabase {
    const resolved: Required<PostgresLimits> = { ...DEFAULT_LIMITS, ...limits };
    return new PostgresDatabase(unwrap(worker()('open', url, applicationName, resolved)), url);
  }

  /**
   * Runs `hook` at the start of every write transaction, right after it took {@link WRITE_LOCK}:
   * what other replicas committed before is visible from there on, so a replica brings its
   * caches in step there, and once-only work checks its lease. A hook that throws rolls the
   * transaction back with its error.
   */
  onWriteLock(hook: () => void): () => void {
    this.writeLockHooks.push(hook);
    return () => {
      const at = this.writeLockHooks.indexOf(hook);
      if (at >= 0) this.writeLockHooks.splice(at, 1);
    };
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** Runs one statement as written (no parameters): what migrations and `exec` use. */
  query(text: string, values: readonly unknown[] = [], name?: string, arrays = false): QueryAnswer {
    if (this.closed) throw new PostgresError({ message: 'the database connection is closed', code: '08003' });
    // Outside a transaction a lost connection may be replaced before the statement runs; inside
    // one it may not, since the new session would not have the transaction's work.
    return unwrap(worker()('query', this.id, text, values, name, arrays, this.depth === 0));
  }

  prepare<P extends unknown[] | object = unknown[], R = unknown>(
    source: string,
  ): P extends unknown[] ? Statement<P, R> : Statement<[P], R> {
    let name = this.names.get(source);
    if (name === undefined) {
      name = `flotilla_${this.names.size + 1}`;
      this.names.set(source, name);
    }
    return new PostgresStatement(this, translateSql(source), name) as never;
  }

  exec(source: string): this {
    this.query(source);
    return this;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own bound (sql.ts)
  transaction<F extends (...args: any[]) => unknown>(fn: F): ReturnType<SqlDatabase['transaction']> {
    const run =
      (begin: string, hooks: readonly (() => void)[]) =>
      (...args: unknown[]): unknown => {
        if (this.depth > 0) return this.savepoint(() => fn(...args));
        try {
          // Inside the try: a BEGIN whose lock wait timed out left an aborted transaction open,
          // which must be rolled back before the connection serves anything else.
          this.query(begin);
          this.depth = 1;
          for (const hook of hooks) hook();
          const result = fn(...args);
          // A statement that failed inside the work (and was caught there) aborted the whole
          // transaction, and PostgreSQL answers its COMMIT by rolling back: that must not pass as written.
          if (this.query('COMMIT').command === 'ROLLBACK')
            throw new PostgresError({
              message: 'the transaction was rolled back: a statement inside it failed, and the work went on',
              code: '25P02',
            });
          return result;
        } catch (error) {
          this.rollback('ROLLBACK');
          throw error;
        } finally {
          this.depth = 0;
        }
      };
    const write = run(`BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`, this.writeLockHooks);
    return Object.assign(write, {
      default: write,
      immediate: write,
      exclusive: write,
      deferred: run('BEGIN ISOLATION LEVEL REPEATABLE READ', []),
    }) as never;
  }

  private savepoint(work: () => unknown): unknown {
    const name = `s${this.depth}`;
    this.query(`SAVEPOINT ${name}`);
    this.depth++;
    try {
      const result = work();
      this.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      this.rollback(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`);
      throw error;
    } finally {
      this.depth--;
    }
  }

  /** Rolls back; a connection too broken to roll back has lost the transaction anyway. */
  private rollback(text: string): void {
    try {
      this.query(text);
    } catch {
      // The work's own error is the one to report.
    }
  }

  close(): this {
    if (this.closed) return this;
    this.closed = true;
    unwrap(worker()('close', this.id));
    return this;
  }
}

class PostgresStatement<P extends unknown[], R> implements Statement<P, R> {
  private arrays = false;
  private readonly db: PostgresDatabase;
  private readonly sql: TranslatedSql;
  private readonly name: string;

  constructor(db: PostgresDatabase, sql: TranslatedSql, name: string) {
    this.db = db;
    this.sql = sql;
    this.name = name;
  }

  private values(params: unknown[]): unknown[] {
    if (this.sql.names.length === 0) {
      if (params.length !== this.sql.positional)
        throw new RangeError(`the statement takes ${this.sql.positional} parameters, received ${params.length}`);
      return params;
    }
    const named = params[0] as Record<string, unknown> | undefined;
    if (named === undefined || typeof named !== 'object')
      throw new TypeError(`the statement takes named parameters: ${this.sql.names.join(', ')}`);
    return this.sql.names.map((key) => {
      if (!(key in named)) throw new RangeError(`missing named parameter "${key}"`);
      return named[key];
    });
  }

  private rows(params: unknown[]): { rows: unknown[]; rowCount: number } {
    const answer = this.db.query(this.sql.text, this.values(params), this.name, this.arrays);
    for (const row of answer.rows) buffers(row);
    return answer;
  }

  run(...params: P): RunResult {
    const answer = this.rows(params);
    // PostgreSQL has no last rowid: a statement that needs it says `RETURNING id`.
    const first = answer.rows[0] as Record<string, unknown> | unknown[] | undefined;
    const id: unknown = first === undefined ? 0 : Object.values(first)[0];
    return { changes: answer.rowCount, lastInsertRowid: typeof id === 'number' ? id : 0 };
  }

  get(...params: P): R | undefined {
    return this.rows(params).rows[0] as R | undefined;
  }

  all(...params: P): R[] {
    return this.rows(params).rows as R[];
  }

  iterate(...params: P): IterableIterator<R> {
    return (this.rows(params).rows as R[])[Symbol.iterator]();
  }

  raw(toggle = true): this {
    this.arrays = toggle;
    return this;
  }
}

/** Connects to the hub's PostgreSQL database and brings its schema up to date. */
export function openPostgres(url: string, applicationName?: string): PostgresDatabase {
  const db = PostgresDatabase.connect(url, applicationName);
  try {
    migratePostgres(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
