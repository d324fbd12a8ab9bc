import type { Db } from './database.ts';
import type { StoreHealth } from './store-health.ts';

/**
 * Transactions on the hub's database: a change and its audit entry commit or roll back
 * together. Inside an open transaction `run` nests as a savepoint, so a service may call
 * another's transactional method from its own.
 */
export interface Transactions {
  run<T>(work: () => T): T;
  /** Whether a transaction is open now: work that must join one, or must not run in one, checks it. */
  readonly open: boolean;
}

/**
 * The transactions of one database connection. With `health`, a transaction is refused at
 * once (`STORE_UNAVAILABLE`) while the store cannot write, and a storage failure inside one
 * (a full disk, a lock held elsewhere) becomes that refusal and starts the outage.
 */
export function transactions(db: Db, health?: Pick<StoreHealth, 'assertWritable' | 'asRefusal'>): Transactions {
  return {
    run: (work) => {
      if (health === undefined || db.inTransaction) return db.transaction(work)();
      health.assertWritable();
      try {
        return db.transaction(work)();
      } catch (error) {
        throw health.asRefusal(error, 'transaction') ?? error;
      }
    },
    get open() {
      return db.inTransaction;
    },
  };
}
