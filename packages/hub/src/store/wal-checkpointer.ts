import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { ArmedFault } from '@flotilla/protocol';
import { workerEntry } from '../worker-entry.ts';

/** What {@link WalCheckpointer} hands its worker thread. */
export interface CheckpointWorkerData {
  readonly path: string;
  readonly intervalMs: number;
  readonly pinnedBytes: number;
  readonly faults: readonly ArmedFault[];
}

/**
 * What the worker posts: once, that it is ready; after each checkpoint, the frames the WAL holds
 * (`log`) and how many of them are in the database file; whenever a reader starts or stops
 * pinning the WAL.
 */
export type CheckpointMessage =
  | { readonly ready: true }
  | { readonly log: number; readonly checkpointed: number }
  | { readonly pinned: boolean; readonly walBytes: number };

/** SQLite's own auto-checkpoint, in pages of WAL: what the hub's connection falls back to without the worker. */
const AUTO_CHECKPOINT_PAGES = 1000;

/** How long the checkpointer waits before starting its worker again after it was lost, doubled while starting fails. */
const RESTART_MS = { first: 1_000, most: 60_000 };

/** How long the hub waits at most for the worker before it listens, the connection checkpointing meanwhile. */
const READY_WITHIN_MS = 10_000;

export interface WalCheckpointerOptions {
  readonly log?: Logger;
  /** How often the worker looks for a changed WAL to checkpoint; default 200 ms. */
  readonly intervalMs?: number;
  /** A WAL this large that a checkpoint could not empty is logged as pinned by a reader; default 256 MiB. */
  readonly pinnedBytes?: number;
  /**
   * Test-only fault points armed in the worker (`wal-checkpoint:start`, `wal-checkpoint:worker`);
   * only the first worker has them, so that one armed fault ends one worker.
   */
  readonly faults?: readonly ArmedFault[];
}

/**
 * Checkpoints the SQLite WAL of `db` (the hub's connection to the file at `path`) from a worker
 * thread with a connection of its own. SQLite's auto-checkpoint runs inside the commit that
 * crosses its threshold, on the committing connection, so on the hub's event loop; under a
 * rollout's writes those commits took 100 to 300 ms (docs/benchmarks.md, "fleet"). The worker's
 * PASSIVE checkpoints never take the write lock, so the hub's commits do not wait for them.
 *
 * The WAL's growth stays bounded whatever happens to the worker: while it is not ready (starting,
 * or lost and not yet restarted, which a hub out of file descriptors may fail to do) the hub's
 * connection checkpoints itself again as SQLite would. A reader holding an old snapshot pins the
 * WAL against any checkpoint, in any mode; that is logged, not waited out on the event loop.
 * Losing the worker at any point loses nothing: a checkpoint only copies committed pages that the
 * WAL keeps until the copy is done.
 */
export class WalCheckpointer {
  private readonly db: Database.Database;
  private data: CheckpointWorkerData;
  private readonly log: Logger | undefined;
  private worker: Worker | undefined;
  private running = false;
  private restart: NodeJS.Timeout | undefined;
  private restartMs = RESTART_MS.first;
  private closed = false;
  private done = 0;
  private last: { readonly log: number; readonly checkpointed: number } | undefined;
  /** Resolves once the worker is ready or lost, or after 10 s (logged): await it before listening. */
  readonly ready: Promise<void>;

  constructor(db: Database.Database, path: string, options: WalCheckpointerOptions = {}) {
    this.db = db;
    this.log = options.log;
    this.data = {
      path,
      intervalMs: options.intervalMs ?? 200,
      pinnedBytes: options.pinnedBytes ?? 256 * 1024 * 1024,
      faults: options.faults ?? [],
    };
    let bound: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      bound = setTimeout(() => {
        this.log?.warn('the WAL checkpoint worker is not ready yet; commits checkpoint until it is');
        resolve();
      }, READY_WITHIN_MS);
      bound.unref();
    });
    this.ready = Promise.race([this.start().then(() => clearTimeout(bound)), late]);
  }

  /** Whether the worker checkpoints now (else the hub's connection does, as it commits). */
  get checkpointing(): boolean {
    return this.running;
  }

  /** How many checkpoints the worker has run, over its restarts. */
  get checkpoints(): number {
    return this.done;
  }

  /** The WAL's frames at the worker's last checkpoint, and how many of them it had copied. */
  get lastCheckpoint(): { readonly log: number; readonly checkpointed: number } | undefined {
    return this.last;
  }

  /** Stops the worker, its connection closed, and gives checkpoints back to the hub's connection. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restart);
    const worker = this.worker;
    this.worker = undefined;
    this.handBack();
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Held while it closes: an unreferenced worker would let a stopping process exit before the
    // hub's own connection closed and the hub said it stopped.
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  private start(): Promise<void> {
    const { entry, options } = workerEntry(import.meta.url, 'wal-checkpoint-worker');
    const worker = new Worker(entry, { ...options, workerData: this.data });
    this.data = { ...this.data, faults: [] };
    worker.unref();
    this.worker = worker;
    return new Promise<void>((started) => {
      worker.on('message', (message: CheckpointMessage) => {
        if ('ready' in message) {
          this.db.pragma('wal_autocheckpoint = 0');
          this.running = true;
          this.restartMs = RESTART_MS.first;
          started();
        } else if ('checkpointed' in message) {
          this.done += 1;
          this.last = message;
        } else if (message.pinned)
          this.log?.warn({ walBytes: message.walBytes }, 'a reader holds the WAL; it grows until the reader ends');
        else this.log?.info({ walBytes: message.walBytes }, 'the WAL is checkpointed again');
      });
      const lost = (error: Error): void => {
        started();
        if (this.worker !== worker) return;
        this.worker = undefined;
        this.handBack();
        if (this.closed) return;
        this.log?.warn(
          { err: error, restartInMs: this.restartMs },
          'the WAL checkpoint worker was lost; commits checkpoint until it is replaced',
        );
        this.restart = setTimeout(() => {
          this.restart = undefined;
          if (!this.closed) void this.start();
        }, this.restartMs);
        this.restart.unref();
        this.restartMs = Math.min(RESTART_MS.most, this.restartMs * 2);
      };
      worker.on('error', (error) => lost(new Error(`the WAL checkpoint worker failed: ${error.message}`)));
      worker.on('exit', (code) => lost(new Error(`the WAL checkpoint worker exited (${code})`)));
    });
  }

  private handBack(): void {
    if (!this.running) return;
    this.running = false;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  }
}
