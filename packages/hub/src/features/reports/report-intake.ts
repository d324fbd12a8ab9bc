import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { verifyCanonicalInPool } from '@flotilla/protocol';
import { fromRefusal, readReport, type ReadReport, type Refusal } from './report-body.ts';

/** One report body for a worker: its bytes (moved to the worker, not copied) and the key to check it against. */
export interface IntakeJob {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly targetId: string;
  readonly publicKey: string | undefined;
}

/** A worker's answer to one {@link IntakeJob}: the report read, the refusal of its body, or a bug's message. */
export type IntakeAnswer =
  | { readonly id: number; readonly read: ReadReport }
  | { readonly id: number; readonly refusal: Refusal }
  | { readonly id: number; readonly failed: string };

/** The intake's worker threads unless configured: one core left to the event loop, at most four. */
export function defaultIntakeWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

interface Pending {
  readonly resolve: (read: ReadReport) => void;
  readonly reject: (error: unknown) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  queued: IntakeJob[];
}

/**
 * Everything a report needs before the store, off the event loop: a pool of worker threads
 * reads each report's body (bounded JSON, the schema), puts it in canonical form and verifies
 * its signature, so that the event loop only reads the bytes and stores. With no workers the
 * same runs in process, the signature checked on libuv's thread pool: what the tests compare
 * the workers against, and the choice for a hub on one core.
 *
 * The workers start with the intake and are replaced when one fails; a failure answers the
 * reports it held as the hub's own error (500), never as a verdict on them.
 */
export class ReportIntake {
  private readonly size: number;
  private readonly threads: Thread[] = [];
  private nextId = 1;
  private flushing = false;
  private closed = false;

  /**
   * `workers`: how many worker threads, started now: a hub that later runs out of file
   * descriptors could not start one (it loads its modules from files) and would fail its reports.
   * 0 reads every report on the event loop.
   */
  constructor(workers: number) {
    this.size = workers;
    for (let i = 0; i < workers; i++) this.start();
  }

  /** How many worker threads the intake runs with (0: none, reports are read in process). */
  get workers(): number {
    return this.size;
  }

  /**
   * Reads one report body sent for `targetId`, checked against the target's `publicKey` (undefined
   * for a target the hub does not know). The bytes belong to the intake from here on. Rejects
   * with the {@link FlotillaError} that names what is wrong with the body.
   */
  read(bytes: Uint8Array, targetId: string, publicKey: string | undefined): Promise<ReadReport> {
    if (this.size === 0)
      return (async () =>
        readReport(bytes, targetId, publicKey, (canonical, signature, key) =>
          verifyCanonicalInPool('report', canonical, signature, key),
        ))();
    if (this.closed) return Promise.reject(new Error('the report intake is closed'));
    const thread = this.leastBusy();
    const id = this.nextId++;
    // Only a buffer of its own can move to the worker; a view into a larger one is copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    return new Promise<ReadReport>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.queued.push({ id, bytes: own, targetId, publicKey });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Stops the workers; reports still being read fail. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.splice(0);
    for (const thread of threads) this.fail(thread, new Error('the report intake closed while reading a report'));
    await Promise.all(threads.map(({ worker }) => worker.terminate()));
  }

  /** Hands each worker the jobs queued for it in this turn of the event loop, in one message. */
  private flush(): void {
    this.flushing = false;
    for (const thread of this.threads) {
      if (thread.queued.length === 0) continue;
      const jobs = thread.queued;
      thread.queued = [];
      thread.worker.postMessage(
        jobs,
        jobs.map(({ bytes }) => bytes.buffer as ArrayBuffer),
      );
    }
  }

  private leastBusy(): Thread {
    if (this.threads.length < this.size) return this.start();
    let best = this.threads[0]!;
    for (const thread of this.threads) if (thread.pending.size < best.pending.size) best = thread;
    return best;
  }

  private start(): Thread {
    const worker = new Worker(WORKER, WORKER_OPTIONS);
    worker.unref();
    const thread: Thread = { worker, pending: new Map(), queued: [] };
    worker.on('message', (answers: readonly IntakeAnswer[]) => {
      for (const answer of answers) {
        const pending = thread.pending.get(answer.id);
        if (pending === undefined) continue;
        thread.pending.delete(answer.id);
        if ('read' in answer) pending.resolve(answer.read);
        else if ('refusal' in answer) pending.reject(fromRefusal(answer.refusal));
        else pending.reject(new Error(`reading a report failed in its worker: ${answer.failed}`));
      }
    });
    const lost = (error: Error): void => {
      const at = this.threads.indexOf(thread);
      if (at !== -1) this.threads.splice(at, 1);
      this.fail(thread, error);
    };
    worker.on('error', (error) => lost(new Error(`a report intake worker failed: ${error.message}`)));
    worker.on('exit', (code) => lost(new Error(`a report intake worker exited (${code})`)));
    this.threads.push(thread);
    return thread;
  }

  private fail(thread: Thread, error: Error): void {
    for (const { reject } of thread.pending.values()) reject(error);
    thread.pending.clear();
    thread.queued = [];
  }
}

// The worker is JavaScript in dist/ beside this module; under the tests and the benchmarks,
// which run src/, it is TypeScript, loaded through tsx (whose loader Node 20 does not pass on
// to worker threads) with the packages' source condition.
const fromSource = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./report-intake-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
const WORKER: URL | string = fromSource
  ? `import(${JSON.stringify(new URL('dist/esm/api/index.mjs', pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json'))).href)}).then((tsx) => tsx.tsImport(${JSON.stringify(WORKER_URL.href)}, ${JSON.stringify(import.meta.url)}))`
  : WORKER_URL;
// Without tsx's cache, which it would leave in the temporary folder; a benchmark's CPU profile
// (--cpu-prof) covers the workers too.
const WORKER_OPTIONS = fromSource
  ? {
      eval: true,
      execArgv: ['--conditions=@flotilla/source', ...process.execArgv.filter((arg) => arg.startsWith('--cpu-prof'))],
      env: { ...process.env, TSX_DISABLE_CACHE: '1' },
    }
  : {};
