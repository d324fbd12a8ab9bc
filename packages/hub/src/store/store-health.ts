import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { FlotillaError, isFlotillaError, messageOf } from '@flotilla/protocol';
import type { Clock } from '../clock.ts';
import type { Db } from './database.ts';
import { PostgresError } from './postgres/postgres-database.ts';
import { dialectOf } from './sql.ts';

// SQLite's answers that say the store itself cannot write now (a full disk, a lock another
// process holds, an I/O failure, a read-only file), as opposed to what was asked of it.
const STORAGE_CODES = /^SQLITE_(FULL|BUSY|LOCKED|IOERR|READONLY|CANTOPEN|PROTOCOL|NOMEM)(_|$)/;

// PostgreSQL's: the connection is gone (SQLSTATE class 08), the server lacks a resource — disk,
// memory, connections (53) —, is shutting down or restarting (57P), or failed at I/O (58); a
// wait that ran past its limit (lock 55P03, statement 57014, transaction left idle 25P03: see
// PostgresLimits); and the socket errors of a server that cannot be reached.
const POSTGRES_STORAGE_CODES =
  /^(08|53|57P|58|55P03$|57014$|25P03$)|^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/;

type StorageError = InstanceType<typeof Database.SqliteError> | PostgresError;

/** A failure of the store itself, not of the statement: retry later. */
export function isStorageError(error: unknown): error is StorageError {
  if (error instanceof Database.SqliteError) return STORAGE_CODES.test(error.code);
  return error instanceof PostgresError && POSTGRES_STORAGE_CODES.test(error.code);
}

/** What a readiness probe says about the store. */
export type StoreState =
  | { readonly writable: true }
  | { readonly writable: false; readonly code: string; readonly message: string; readonly since: number };

/**
 * Where background work (timers) reports what went wrong: a storage failure is noted once per
 * outage; anything else is logged as an error. Nothing thrown from a timer can end the process.
 */
export interface BackgroundFailures {
  report(error: unknown, component: string): void;
}

/** Runs `work` for a timer, reporting whatever it throws instead of letting it escape. */
export function guarded(failures: BackgroundFailures, component: string, work: () => void): () => void {
  return () => {
    try {
      work();
    } catch (error) {
      failures.report(error, component);
    }
  };
}

export interface StoreHealthOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly clock: Clock;
  /** How often to try a write while the store cannot write; default 1 s. */
  readonly probeMs?: number;
}

/**
 * Whether the hub's store can write, for the hub to stay up when it cannot (a full disk, a
 * write lock held by another process, an I/O error; on PostgreSQL also a lost connection or a
 * server that is down or restarting, which the probe's write connects to again): writes are refused at once with
 * `503 STORE_UNAVAILABLE` and a `Retry-After` instead of each one stalling on the lock or
 * failing with a 500; reads go on; the readiness probe says unready. The outage is logged
 * once when it starts and once when it ends; while it lasts, a small write is tried every
 * `probeMs`, and the first that succeeds ends it.
 */
export class StoreHealth implements BackgroundFailures {
  private readonly options: StoreHealthOptions;
  private readonly log: Logger;
  private readonly probeMs: number;
  private outage: { code: string; message: string; since: number } | undefined;
  private probe: NodeJS.Timeout | undefined;
  private readonly probeWrite;
  /** SQLite reads its file while it cannot write; PostgreSQL's reads need the server as much as its writes. */
  private readonly readsGoOn: boolean;

  constructor(options: StoreHealthOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'store' });
    this.probeMs = options.probeMs ?? 1000;
    if (!Number.isFinite(this.probeMs) || this.probeMs < 10)
      throw new TypeError(`StoreHealth: probeMs must be at least 10, received ${String(options.probeMs)}`);
    const statement = options.db.prepare(
      "INSERT INTO meta (key, value) VALUES ('store-probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    this.probeWrite = options.db.transaction((at: string) => statement.run(at));
    this.readsGoOn = dialectOf(options.db) === 'sqlite';
  }

  get state(): StoreState {
    return this.outage === undefined ? { writable: true } : { writable: false, ...this.outage };
  }

  get writable(): boolean {
    return this.outage === undefined;
  }

  /** How long a client should wait before trying a write again. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((2 * this.probeMs) / 1000));
  }

  /** The error a write gets while the store cannot write. */
  refusal(): FlotillaError {
    const outage = this.outage;
    const cause = outage === undefined ? 'it failed' : `${outage.code}: ${outage.message}`;
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `the hub cannot write to its database now (${cause}); ${this.readsGoOn ? 'reads still work, ' : ''}try the change again in ${this.retryAfterSeconds} s`,
      { retryAfterSeconds: this.retryAfterSeconds },
    );
  }

  /** Throws the refusal when the store cannot write: a write then fails at once, without waiting on a lock. */
  assertWritable(): void {
    if (this.outage !== undefined) throw this.refusal();
  }

  /**
   * The error a caller gets for `error`: the refusal for a storage failure (which starts an
   * outage), undefined for anything else.
   */
  asRefusal(error: unknown, component: string): FlotillaError | undefined {
    if (isFlotillaError(error, 'STORE_UNAVAILABLE')) return error;
    if (!isStorageError(error)) return undefined;
    this.failed(error, component);
    return this.refusal();
  }

  report(error: unknown, component: string): void {
    if (isFlotillaError(error, 'STORE_UNAVAILABLE')) return;
    if (isStorageError(error)) this.failed(error, component);
    else this.log.error({ err: error, failedIn: component }, 'background work failed');
  }

  /** Stops probing; the hub is closing. */
  stop(): void {
    if (this.probe !== undefined) clearInterval(this.probe);
    this.probe = undefined;
  }

  private failed(error: StorageError, component: string): void {
    if (this.outage !== undefined) return;
    this.outage = { code: error.code, message: messageOf(error), since: this.options.clock() };
    this.log.error(
      { code: error.code, err: messageOf(error), failedIn: component, retryEveryMs: this.probeMs },
      'store unavailable',
    );
    this.probe = setInterval(() => this.tryWrite(), this.probeMs);
    this.probe.unref();
  }

  private tryWrite(): void {
    const outage = this.outage;
    if (outage === undefined) return this.stop();
    try {
      this.probeWrite(new Date(this.options.clock()).toISOString());
    } catch (error) {
      if (isStorageError(error)) return;
      this.log.error({ err: error }, 'store probe failed');
      return;
    }
    this.stop();
    this.outage = undefined;
    this.log.info({ code: outage.code, durationMs: this.options.clock() - outage.since }, 'store writable again');
  }
}
