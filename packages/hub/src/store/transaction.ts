import type { Db } from './database.ts';
import { dialectOf } from './sql.ts';
import type { StoreHealth } from './store-health.ts';

/**
 * Transactions on the hub's database: a change and its audit entry commit or roll back
 * together. Inside an open transaction `run` nests as a savepoint, so a service may call
 * another's transactional method from its own.
 */
export interface Transactions {
  run<T>(work: () => T): T;
  /**
   * Runs `work` in one transaction with the other work grouped in the same turn of the event
   * loop (up to {@link GROUP_LIMIT}), and settles once that transaction committed: a burst of
   * small writes (reports, enrollments) costs one commit instead of one each. Work that throws
   * rejects alone; what it wrote outside its own `run` stays, as it would have without grouping.
   * A failed commit (or a store that cannot write) rejects the whole group.
   */
  group<T>(work: () => T): Promise<T>;
  /** Whether a transaction is open now: work that must join one, or must not run in one, checks it. */
  readonly open: boolean;
}

/** The most pieces of work one grouped transaction takes, so that one commit never holds the event loop for long. */
export const GROUP_LIMIT = 256;

interface Queued {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The transactions of one database connection. With `health`, a transaction is refused at
 * once (`STORE_UNAVAILABLE`) while the store cannot write, and a storage failure inside one
 * (a full disk, a lock held elsewhere) becomes that refusal and starts the outage.
 */
export function transactions(db: Db, health?: Pick<StoreHealth, 'assertWritable' | 'asRefusal'>): Transactions {
  // Made once: better-sqlite3 builds four wrappers for each transaction function it makes,
  // which cost more than the savepoint a nested run opens.
  const atomically = db.transaction((work: () => unknown) => work());
  const run = <T>(work: () => T): T => {
    if (health === undefined || db.inTransaction) return atomically(work) as T;
    health.assertWritable();
    try {
      return atomically(work) as T;
    } catch (error) {
      throw health.asRefusal(error, 'transaction') ?? error;
    }
  };
  const piece = dialectOf(db) === 'postgres' ? (work: () => unknown) => pieceOnPostgres(db, work) : undefined;
  let queue: Queued[] = [];
  const flush = (): void => {
    const batch = queue.slice(0, GROUP_LIMIT);
    queue = queue.slice(GROUP_LIMIT);
    if (queue.length > 0) setImmediate(flush);
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      run(() => {
        for (const { work } of batch) {
          try {
            results.push({ ok: true, value: piece === undefined ? work() : piece(work) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const result = results[i]!;
      if (result.ok) item.resolve(result.value);
      else item.reject(result.error);
    });
  };
  return {
    run,
    group: <T>(work: () => T) =>
      new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
        if (queue.length === 1) setImmediate(flush);
      }),
    get open() {
      return db.inTransaction;
    },
  };
}

/**
 * One piece of a grouped transaction on PostgreSQL, where a failed statement aborts the whole
 * transaction (SQLite undoes only the statement): the piece runs in a savepoint, so that its
 * failure costs the others nothing. What it wrote before throwing stays, as on SQLite, unless
 * a statement of it failed: then the piece is undone whole.
 */
function pieceOnPostgres(db: Db, work: () => unknown): unknown {
  db.exec('SAVEPOINT grouped_piece');
  try {
    const value = work();
    db.exec('RELEASE SAVEPOINT grouped_piece');
    return value;
  } catch (error) {
    try {
      db.exec('RELEASE SAVEPOINT grouped_piece');
    } catch {
      db.exec('ROLLBACK TO SAVEPOINT grouped_piece; RELEASE SAVEPOINT grouped_piece');
    }
    throw error;
  }
}
