import type { Db } from './database.ts';

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

/** The transactions of one database connection. */
export function transactions(db: Db): Transactions {
  return {
    run: (work) => db.transaction(work)(),
    get open() {
      return db.inTransaction;
    },
  };
}
