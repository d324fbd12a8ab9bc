import { setImmediate as nextTurn } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { FaultPoints } from '@flotilla/protocol';
import { BackgroundPass } from '../background-pass.ts';
import type { BackgroundFailures } from './store-health.ts';

/** Pages given back in one slice: 512 pages (2 MiB), a few milliseconds of the event loop. */
export const RECLAIM_SLICE_PAGES = 512;
/** Fewer free pages than this (1 MiB) are left for SQLite to reuse: not worth a pass. */
export const RECLAIM_FROM_PAGES = 256;
/** How often the hub looks for free pages to give back: a prune runs hourly. */
const CHECK_MS = 10 * 60_000;

/** SQLite's `auto_vacuum` mode that moves free pages to the end of the file on request and cuts them off. */
const INCREMENTAL = 2;

export interface FreePagesOptions {
  /** Where a pass that failed goes: a store that cannot write is noted once, not per pass. */
  readonly failures: BackgroundFailures;
  /** Pages given back per slice; default {@link RECLAIM_SLICE_PAGES}. */
  readonly slicePages?: number;
  /** The fewest free pages worth a pass; default {@link RECLAIM_FROM_PAGES}. */
  readonly fromPages?: number;
  /** Test-only crash points: `free-pages:slice` after each slice committed. */
  readonly faults?: FaultPoints;
}

/**
 * Gives the pages that pruning freed (reports past retention, audit entries behind an anchor)
 * back to the file system. SQLite keeps a deleted row's pages in the file for reuse, so a
 * hub's `hub.db` never shrank: on a small edge host a month of reports stayed on disk after
 * the prune. A database in `auto_vacuum = INCREMENTAL` mode (every one the hub creates;
 * `flotilla store compact` converts an older one) can move its free pages to the end and cut
 * them off, a slice at a time: each slice is one write transaction of its own that yields the
 * event loop after it, and the file shrinks when the WAL is next checkpointed. A hub killed
 * mid-pass keeps the slices that committed; the next pass gives back the rest.
 *
 * A database in any other mode, or PostgreSQL (whose autovacuum does this), has nothing to do here.
 */
export class FreePages {
  private readonly db: Database.Database;
  private readonly options: FreePagesOptions;
  private readonly slicePages: number;
  private readonly fromPages: number;
  private readonly passes = new BackgroundPass(() => this.reclaimAll());

  constructor(db: Database.Database, options: FreePagesOptions) {
    const { slicePages = RECLAIM_SLICE_PAGES, fromPages = RECLAIM_FROM_PAGES } = options;
    for (const [name, value] of Object.entries({ slicePages, fromPages }))
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`FreePages: ${name} must be a whole number of at least 1; received ${String(value)}`);
    this.db = db;
    this.options = options;
    this.slicePages = slicePages;
    this.fromPages = fromPages;
  }

  /** Whether this database gives free pages back: SQLite in incremental auto-vacuum mode. */
  get reclaims(): boolean {
    return this.db.pragma('auto_vacuum', { simple: true }) === INCREMENTAL;
  }

  /** Pages the file holds that no table or index uses. */
  get free(): number {
    return this.db.pragma('freelist_count', { simple: true }) as number;
  }

  /** Bytes the file holds that no table or index uses. */
  get freeBytes(): number {
    return this.free * (this.db.pragma('page_size', { simple: true }) as number);
  }

  /** Looks now, then every ten minutes; the timer does not keep the process alive. */
  start(): void {
    this.passes.every(CHECK_MS, () => {
      if (this.passes.busy) return;
      try {
        if (!this.reclaims || this.free < this.fromPages) return;
      } catch (error) {
        this.options.failures.report(error, 'free pages');
        return;
      }
      void this.reclaim().catch((error: unknown) => this.options.failures.report(error, 'free pages'));
    });
  }

  /** Stops the timer and waits for a pass under way, which stops after its current slice. */
  close(): Promise<void> {
    return this.passes.close();
  }

  /** Gives every free page back, a slice a turn; joins a pass under way. Resolves with the pages given back. */
  reclaim(): Promise<number> {
    return this.passes.run();
  }

  private async reclaimAll(): Promise<number> {
    if (!this.reclaims) return 0;
    let given = 0;
    for (let free = this.free; free > 0 && !this.passes.stopping;) {
      this.db.pragma(`incremental_vacuum(${this.slicePages})`);
      this.options.faults?.reach('free-pages:slice');
      const left = this.free;
      // Another writer may have taken free pages meanwhile; what is no longer free was not given back.
      given += Math.max(0, free - left);
      if (left >= free) break;
      free = left;
      await nextTurn();
    }
    return given;
  }
}
