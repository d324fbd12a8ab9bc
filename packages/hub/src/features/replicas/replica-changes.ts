import pg from 'pg';
import type { Logger } from 'pino';
import type { PostgresDatabase } from '../../store/postgres/postgres-database.ts';

/** The channel the triggers of PostgreSQL migration 005 notify on, at the commit of a change. */
export const CHANGES_CHANNEL = 'flotilla_changes';

/** The most missing numbers in the change log waited for at once. */
const MAX_GAPS = 1000;

/** What a replica does when another changed rows of one topic; each gets the changed keys. */
export interface ChangeHandler {
  /**
   * Drops what the change made stale, at once: also inside a write transaction that is about
   * to act on it. Must not write or wait.
   */
  readonly stale?: (keys: ReadonlySet<string>) => void;
  /** Wakes who waits on the change (long-polls, streams), in a later turn, outside any transaction. */
  readonly wake?: (keys: ReadonlySet<string>) => void;
}

export interface ReplicaChangesOptions {
  readonly db: PostgresDatabase;
  /** This replica's name, unique among replicas and their restarts: its own changes are not taken in again. */
  readonly replica: string;
  readonly log: Logger;
  /**
   * How long a missing number in the change log is waited for before it counts as a rolled-back
   * transaction's: a number is taken when a change is written, before its transaction commits.
   */
  readonly gapMs?: number;
  /** How often the log is read besides notifications (a lost listening connection misses them); default 1 s. */
  readonly pollMs?: number;
}

interface ChangeRow {
  readonly seq: number;
  readonly topic: string;
  readonly key: string;
  readonly origin: string | null;
}

/**
 * The change log's reader on one replica (`replica_changes`, PostgreSQL migration 005): every
 * change another replica committed to a row some cache of this one holds is taken in once,
 * in the order of the log: at a notification, at the start of each write transaction (right
 * after the write lock: what this replica writes then is decided on caches in step), and every
 * `pollMs`. Numbers are taken before commit, so a later one can commit first: a missing number
 * is read again until it appears or `gapMs` passed.
 */
export class ReplicaChanges {
  private readonly options: ReplicaChangesOptions;
  private readonly gapMs: number;
  private readonly handlers = new Map<string, ChangeHandler[]>();
  /** Every change up to here was taken in (or given up on, as a gap that never filled). */
  private low: number;
  /** Changes taken in above `low`. */
  private readonly above = new Set<number>();
  /** The highest change taken in: every number between `low` and it is taken in or a gap. */
  private high: number;
  /** Missing numbers above `low`, with when they were first missed (performance.now()). */
  private readonly gaps = new Map<number, number>();
  private readonly pendingWakes = new Map<string, Set<string>>();
  private wakeScheduled = false;
  private catchUpScheduled = false;
  private freshThisTurn = false;
  private failing = false;
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly stopHook: () => void;
  private taken = 0;
  private readonly statements;

  constructor(options: ReplicaChangesOptions) {
    this.options = options;
    this.gapMs = options.gapMs ?? 10_000;
    const { db } = options;
    this.statements = {
      // The triggers name the session's replica as each change's origin. It is set again with
      // every read (which starts every write transaction): a lost connection is replaced by a
      // new session that has no such setting.
      since: db.prepare<[string, number, readonly number[]], ChangeRow | { seq: null }>(
        `SELECT c.seq, c.topic, c.key, c.origin
           FROM (SELECT set_config('flotilla.replica', ?, false)) AS session
           LEFT JOIN replica_changes c ON c.seq > ? OR c.seq = ANY(?::bigint[])
          ORDER BY c.seq LIMIT 10000`,
      ),
      last: db.prepare<[], { seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM replica_changes'),
      prune: db.prepare<[number]>(
        `DELETE FROM replica_changes WHERE changed_at < clock_timestamp() - ?::bigint * interval '1 millisecond'`,
      ),
    };
    // Caches built from here on see every later change: start after the last one there is.
    this.low = this.statements.last.get()!.seq;
    this.high = this.low;
    this.catchUp();
    this.stopHook = db.onWriteLock(() => this.catchUp());
  }

  /** Registers what to do when rows of `topic` changed on another replica. */
  on(topic: string, handler: ChangeHandler): this {
    const list = this.handlers.get(topic) ?? [];
    list.push(handler);
    this.handlers.set(topic, list);
    return this;
  }

  /** How many changes from other replicas were taken in so far. */
  get takenIn(): number {
    return this.taken;
  }

  /** Takes in every change committed since the last call; returns how many came from other replicas. */
  catchUp(): number {
    const { replica, log } = this.options;
    let taken = 0;
    const stale = new Map<string, Set<string>>();
    for (;;) {
      const rows = this.statements.since.all(replica, this.high, [...this.gaps.keys()]);
      for (const row of rows) {
        if (row.seq === null) continue;
        if (row.seq <= this.low || this.above.has(row.seq)) continue;
        this.above.add(row.seq);
        this.gaps.delete(row.seq);
        this.noteGaps(row.seq);
        if (row.origin === replica) continue;
        taken++;
        add(stale, row.topic, row.key);
        if (this.handlers.get(row.topic)?.some((h) => h.wake !== undefined)) add(this.pendingWakes, row.topic, row.key);
      }
      this.advance();
      if (rows.length < 10000) break;
    }
    for (const [topic, keys] of stale)
      for (const handler of this.handlers.get(topic) ?? []) {
        try {
          handler.stale?.(keys);
        } catch (error) {
          log.error({ err: error, topic }, 'dropping what another replica changed failed');
        }
      }
    if (this.pendingWakes.size > 0 && !this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => this.wakeAll());
    }
    this.taken += taken;
    return taken;
  }

  /**
   * Before a request is served: takes in what was committed before it arrived, so a request
   * sees another replica's change as soon as that replica answered for it (a revoked token is
   * refused everywhere at once). One read of the log per turn of the event loop, however many
   * requests arrive in it.
   */
  fresh(): void {
    if (this.freshThisTurn || this.closed || this.options.db.inTransaction) return;
    this.freshThisTurn = true;
    setImmediate(() => {
      this.freshThisTurn = false;
    });
    try {
      this.catchUp();
      this.failing = false;
    } catch (error) {
      // The request meets the store's failure itself; say it once, not per request.
      if (!this.failing) this.options.log.warn({ err: error }, 'reading other replicas’ changes failed');
      this.failing = true;
    }
  }

  /** A change above the highest so far: the numbers skipped on the way are missing until they appear. */
  private noteGaps(seq: number): void {
    if (seq <= this.high) return;
    const now = performance.now();
    // Only so many transactions can be in flight at once (writes take one lock): a wider jump
    // is numbers that will never appear (a sequence moved on by hand, a restored dump).
    for (let missing = Math.max(this.high + 1, seq - MAX_GAPS); missing < seq; missing++) this.gaps.set(missing, now);
    if (seq - this.high > MAX_GAPS + 1) {
      for (const above of this.above) if (above < seq - MAX_GAPS) this.above.delete(above);
      this.low = Math.max(this.low, seq - MAX_GAPS - 1);
      for (const missing of this.gaps.keys()) if (missing <= this.low) this.gaps.delete(missing);
    }
    this.high = seq;
  }

  /** Moves `low` over what is settled: changes taken in, and gaps waited for long enough. */
  private advance(): void {
    const now = performance.now();
    for (;;) {
      const next = this.low + 1;
      if (this.above.delete(next)) {
        this.low = next;
        continue;
      }
      const missedSince = this.gaps.get(next);
      if (missedSince !== undefined && now - missedSince >= this.gapMs) {
        this.gaps.delete(next);
        this.low = next;
        continue;
      }
      break;
    }
  }

  private wakeAll(): void {
    this.wakeScheduled = false;
    const wakes = [...this.pendingWakes];
    this.pendingWakes.clear();
    for (const [topic, keys] of wakes)
      for (const handler of this.handlers.get(topic) ?? []) {
        try {
          handler.wake?.(keys);
        } catch (error) {
          this.options.log.error({ err: error, topic }, 'waking on what another replica changed failed');
        }
      }
  }

  /**
   * Listens for notifications on a connection of its own (in this thread: it only waits) and
   * reads the log every `pollMs` besides; a lost listening connection is opened again.
   */
  async start(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1_000;
    this.timer ??= setInterval(() => this.soon(), pollMs);
    this.timer.unref();
    await this.listen();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.db.url, application_name: 'flotilla-hub-listen' });
    const lost = (error?: Error): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.log.warn(
        { err: error },
        'the connection listening for other replicas’ changes closed; opening it again',
      );
      this.reconnect = setTimeout(() => {
        this.reconnect = undefined;
        this.listen().catch(() => undefined);
      }, 1_000);
      this.reconnect.unref();
    };
    client.on('notification', () => this.soon());
    client.on('error', lost);
    client.on('end', () => lost());
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (error) {
      lost(error as Error);
      return;
    }
    // What was committed while no one listened.
    this.soon();
  }

  /** Catches up in a later turn, once however many notifications came meanwhile. */
  private soon(): void {
    if (this.catchUpScheduled || this.closed) return;
    this.catchUpScheduled = true;
    setImmediate(() => {
      this.catchUpScheduled = false;
      if (this.closed || this.options.db.inTransaction) return;
      try {
        this.catchUp();
      } catch (error) {
        this.options.log.warn({ err: error }, 'reading other replicas’ changes failed; trying again');
      }
    });
  }

  /** Deletes changes older than `keepMs`: once-only work, every replica took them in long since. */
  prune(keepMs: number): number {
    return this.statements.prune.run(keepMs).changes;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopHook();
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.reconnect !== undefined) clearTimeout(this.reconnect);
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }
}

function add(map: Map<string, Set<string>>, topic: string, key: string): void {
  let keys = map.get(topic);
  if (keys === undefined) {
    keys = new Set();
    map.set(topic, keys);
  }
  keys.add(key);
}
