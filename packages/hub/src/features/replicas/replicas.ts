import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Db } from '../../store/database.ts';
import { PostgresDatabase } from '../../store/postgres/postgres-database.ts';
import { guarded, type BackgroundFailures } from '../../store/store-health.ts';
import { keepCachesInStep, type ReplicaCaches } from './replica-caches.ts';
import { ReplicaChanges } from './replica-changes.ts';
import { DatabaseLease, SOLE_REPLICA, type OnceOnly } from './replica-lease.ts';

/** How long the change log keeps a change: far longer than any replica takes to read it. */
const CHANGES_KEPT_MS = 10 * 60_000;
const PRUNE_EVERY_MS = 60_000;

/** This hub as one of several replicas on one database, or the only one. */
export interface Replicas {
  /** This replica's name in leases and the change log. */
  readonly name: string;
  /** Work that must run on one replica at a time. */
  readonly once: OnceOnly;
  /** Keeps the hub's caches in step with other replicas' changes (none to keep on SQLite). */
  keepInStep(caches: ReplicaCaches): void;
  /** Before a request or stream is served: takes in other replicas' changes committed before it arrived. */
  beforeRequest(): void;
  /** Takes the lease (or waits its turn) and listens for other replicas' changes. */
  start(failures: BackgroundFailures): Promise<void>;
  /** Gives the lease up, after the once-only work's last act, and stops listening. */
  close(): Promise<void>;
}

/** The replica machinery for the hub's database: leases and the change log on PostgreSQL, nothing on SQLite. */
export function replicasFor(db: Db, log: Logger, options: { readonly leaseTtlMs?: number } = {}): Replicas {
  const name = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  if (!(db instanceof PostgresDatabase))
    return {
      name,
      once: SOLE_REPLICA,
      keepInStep: () => undefined,
      beforeRequest: () => undefined,
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  const replicaLog = log.child({ component: 'replicas', replica: name });
  // Before any cache is filled: a change committed while they fill is taken in after.
  const changes = new ReplicaChanges({ db, replica: name, log: replicaLog });
  const lease = new DatabaseLease({
    db,
    name: 'leader',
    holder: name,
    log: replicaLog,
    ...(options.leaseTtlMs === undefined ? {} : { ttlMs: options.leaseTtlMs }),
  });
  let prune: NodeJS.Timeout | undefined;
  return {
    name,
    once: lease,
    keepInStep: (caches) => keepCachesInStep(changes, caches),
    beforeRequest: () => changes.fresh(),
    async start(failures) {
      lease.start();
      prune = setInterval(
        guarded(failures, 'replica change log pruning', () => lease.run(() => changes.prune(CHANGES_KEPT_MS))),
        PRUNE_EVERY_MS,
      );
      prune.unref();
      await changes.start();
      replicaLog.info({ leader: lease.held() }, 'replica started');
    },
    async close() {
      if (prune !== undefined) clearInterval(prune);
      lease.stop();
      await changes.close();
    },
  };
}
