import type { Logger } from 'pino';
import type { PostgresDatabase } from '../../store/postgres/postgres-database.ts';

/**
 * Work that must run on one replica at a time (walking rollouts, audit checkpoints, pruning):
 * `run` does it only while this replica holds the lease, and every write transaction the work
 * begins checks, right after taking the write lock, that the database still names this
 * replica with the fencing number it took; one that lost the lease meanwhile is refused.
 */
export interface OnceOnly {
  /** Runs `work` if this replica holds the lease, else skips it (undefined): another replica does it. */
  run<T>(work: () => T): T | undefined;
  /** Whether this replica holds the lease now: replicas that do not keep no memos of the leader's work. */
  held(): boolean;
}

/** The only replica there is (SQLite: one process): it always holds the lease. */
export const SOLE_REPLICA: OnceOnly = {
  run: (work) => work(),
  held: () => true,
};

/** The error a once-only write transaction ends with when its replica lost the lease. */
export class LeaseLostError extends Error {
  constructor(name: string, fencing: number) {
    super(`this replica no longer holds the ${name} lease (fencing ${fencing}); another replica took the work over`);
    this.name = 'LeaseLostError';
  }
}

export interface LeaseOptions {
  readonly db: PostgresDatabase;
  /** The lease's row: one per kind of once-only work; the hub uses one, `leader`. */
  readonly name: string;
  /** This replica, unique among the replicas (and their restarts). */
  readonly holder: string;
  readonly log: Logger;
  /** How long a lease lasts past its last renewal: how soon another replica takes over from one that died; default 5 s. */
  readonly ttlMs?: number;
  /** How often it is renewed (and, by the others, tried); default 1 s. */
  readonly renewMs?: number;
}

interface Holding {
  readonly fencing: number;
  /** Until when this replica counts on the lease (performance.now()), a margin before the database's expiry. */
  readonly until: number;
}

/**
 * A lease row in `replica_leases` (PostgreSQL migration 005), renewed every `renewMs`. Times
 * are the database's clock, so replicas' clocks need not agree. A holder that stops renewing
 * (killed, paused, cut off) loses it after `ttlMs`; the next replica to try takes it with the
 * fencing number raised. The holder itself counts on the lease only until a margin before the
 * database's expiry, and its work's transactions check the row besides.
 */
export class DatabaseLease implements OnceOnly {
  private readonly options: LeaseOptions;
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private holding: Holding | undefined;
  private fenced = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopHook: () => void;
  private readonly statements;

  constructor(options: LeaseOptions) {
    this.options = options;
    this.ttlMs = options.ttlMs ?? 5_000;
    this.renewMs = options.renewMs ?? 1_000;
    if (!(this.renewMs > 0 && this.ttlMs >= 2 * this.renewMs))
      throw new TypeError(
        `DatabaseLease: ttlMs (${this.ttlMs}) must be at least twice renewMs (${this.renewMs}), so one late renewal does not lose it`,
      );
    const { db } = options;
    this.statements = {
      // Taken when free or expired (fencing raised), renewed when held (fencing kept).
      acquire: db.prepare<[string, string, number], { fencing: number }>(
        `INSERT INTO replica_leases AS l (name, holder, fencing, expires_at)
           VALUES (?, ?, 1, clock_timestamp() + ?::bigint * interval '1 millisecond')
         ON CONFLICT (name) DO UPDATE SET
           holder = excluded.holder,
           fencing = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp()
                          THEN l.fencing ELSE l.fencing + 1 END,
           expires_at = excluded.expires_at
         WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
         RETURNING fencing`,
      ),
      // FOR SHARE: a takeover waits for this transaction, so the work commits before it or not at all.
      check: db.prepare<[string, string, number], { fencing: number }>(
        `SELECT fencing FROM replica_leases
          WHERE name = ? AND holder = ? AND fencing = ? AND expires_at > clock_timestamp() FOR SHARE`,
      ),
      // Expired rather than deleted: the next holder's fencing number must still be higher.
      release: db.prepare<[string, string, number]>(
        `UPDATE replica_leases SET expires_at = clock_timestamp() - interval '1 millisecond'
          WHERE name = ? AND holder = ? AND fencing = ?`,
      ),
    };
    this.stopHook = db.onWriteLock(() => {
      if (this.fenced > 0) this.assertHeld();
    });
  }

  /** Tries to take or renew the lease now, then every `renewMs`. The timer does not keep the process alive. */
  start(): void {
    this.renew();
    this.timer ??= setInterval(() => this.renew(), this.renewMs);
    this.timer.unref();
  }

  /** Stops renewing and gives the lease up, so another replica takes over at once rather than after `ttlMs`. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopHook();
    const holding = this.holding;
    this.holding = undefined;
    if (holding === undefined) return;
    try {
      this.statements.release.run(this.options.name, this.options.holder, holding.fencing);
    } catch (error) {
      this.options.log.warn({ err: error, lease: this.options.name }, 'giving the lease up failed; it expires');
    }
  }

  held(): boolean {
    return this.holding !== undefined && performance.now() < this.holding.until;
  }

  /** The fencing number held, or undefined. */
  get fencing(): number | undefined {
    return this.held() ? this.holding!.fencing : undefined;
  }

  run<T>(work: () => T): T | undefined {
    // A renewal the timer could not make in time (a busy event loop) is tried here first.
    if (!this.held() && this.timer !== undefined) this.renew();
    if (!this.held()) return undefined;
    this.fenced++;
    try {
      return work();
    } finally {
      this.fenced--;
    }
  }

  /** Inside a write transaction: throws {@link LeaseLostError} unless the row still names this replica and its fencing. */
  assertHeld(): void {
    const holding = this.holding;
    const fencing = holding?.fencing ?? 0;
    if (
      holding === undefined ||
      this.statements.check.get(this.options.name, this.options.holder, fencing) === undefined
    ) {
      this.holding = undefined;
      throw new LeaseLostError(this.options.name, fencing);
    }
  }

  /** One try at taking or renewing: a failure (the database unreachable) counts as not holding it. */
  renew(): void {
    if (this.options.db.inTransaction) return;
    const { name, holder, log } = this.options;
    const before = this.holding;
    const started = performance.now();
    let row: { fencing: number } | undefined;
    try {
      row = this.statements.acquire.get(name, holder, this.ttlMs);
    } catch (error) {
      if (before !== undefined) log.warn({ err: error, lease: name }, 'renewing the lease failed');
      row = undefined;
    }
    // Counted from before the statement was sent: the database's expiry is later than that.
    this.holding = row === undefined ? undefined : { fencing: row.fencing, until: started + this.ttlMs - this.renewMs };
    if (before === undefined && this.holding !== undefined)
      log.info({ lease: name, fencing: this.holding.fencing }, 'this replica took the lease');
    else if (before !== undefined && this.holding === undefined)
      log.warn({ lease: name, fencing: before.fencing }, 'this replica lost the lease');
  }
}
