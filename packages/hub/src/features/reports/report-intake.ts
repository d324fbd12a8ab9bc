import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { verifyCanonicalInPool, type ArmedFault } from '@flotilla/protocol';
import { workerEntry } from '../../worker-entry.ts';
import { fromRefusal, readReport, type ReadReport, type Refusal } from './report-body.ts';

/** One report body for a worker: its bytes (copied to the worker) and the key to check it against. */
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

/** What a worker posts: once, that it has loaded everything it reads reports with; then its answers. */
export type IntakeMessage = { readonly ready: true } | readonly IntakeAnswer[];

/** How long the hub waits at most for its workers before it listens; a worker ready later is used from then. */
const READY_WITHIN_MS = 10_000;

/** How long the intake waits before starting a worker again after one was lost, doubled while starting fails. */
const RESTART_MS = { first: 1_000, most: 60_000 };

interface Pending {
  readonly job: IntakeJob;
  readonly resolve: (read: ReadReport) => void;
  readonly reject: (error: unknown) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  queued: IntakeJob[];
  ready: boolean;
}

/**
 * Everything a report needs before the store, off the event loop: a pool of worker threads
 * reads each report's body (bounded JSON, the schema), puts it in canonical form and verifies
 * its signature, so that the event loop only reads the bytes and stores. With no workers the
 * same runs in process, the signature checked on libuv's thread pool: what the tests compare
 * the workers against, and the choice for a hub on one core.
 *
 * A worker takes reports only once it has loaded its modules and read a report: starting a
 * thread and loading modules need file descriptors, which a hub at its open-file limit does
 * not have, and a worker that failed there would fail or strand every report handed to it.
 * While no worker is ready (none started yet, or one lost and not yet replaced) reports are read
 * in process, so running out of descriptors never fails a report. The reports a worker held
 * when it was lost are read again in process (the intake keeps their bytes until answered), so
 * a worker's crash fails no report either; the worker is replaced after a pause.
 */
export class ReportIntake {
  private readonly size: number;
  private readonly log: Logger | undefined;
  private readonly faults: readonly ArmedFault[];
  private readonly threads: Thread[] = [];
  private readonly restarts = new Set<NodeJS.Timeout>();
  private restartMs = RESTART_MS.first;
  private nextId = 1;
  private flushing = false;
  private closed = false;
  /**
   * Resolves once every worker started with the intake is ready or has failed to start, or after
   * `readyWithinMs` (logged), so that a worker stuck loading cannot keep the hub from listening.
   */
  readonly ready: Promise<void>;

  /**
   * `workers`: how many worker threads, started now; await {@link ready} before taking
   * connections, so that they have loaded their modules while descriptors are free. 0 reads
   * every report on the event loop. `faults`: test-only fault points armed in the workers
   * (`report:worker-read`).
   */
  constructor(
    workers: number,
    options: { readonly log?: Logger; readonly faults?: readonly ArmedFault[]; readonly readyWithinMs?: number } = {},
  ) {
    this.size = workers;
    this.log = options.log;
    this.faults = options.faults ?? [];
    const started = Promise.all(Array.from({ length: workers }, () => this.start()));
    let bound: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      bound = setTimeout(() => {
        this.log?.warn(
          { ready: this.readyWorkers, workers },
          'report intake workers are not ready yet; reports are read on the event loop until they are',
        );
        resolve();
      }, options.readyWithinMs ?? READY_WITHIN_MS);
      bound.unref();
    });
    this.ready = Promise.race([started.then(() => clearTimeout(bound)), late]);
  }

  /** How many worker threads are ready to read reports now. */
  get readyWorkers(): number {
    return this.threads.filter((thread) => thread.ready).length;
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
    if (this.closed && this.size > 0) return Promise.reject(new Error('the report intake is closed'));
    const thread = this.leastBusy();
    if (thread === undefined) return readInProcess(bytes, targetId, publicKey);
    const job: IntakeJob = { id: this.nextId++, bytes, targetId, publicKey };
    return new Promise<ReadReport>((resolve, reject) => {
      thread.pending.set(job.id, { job, resolve, reject });
      thread.queued.push(job);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Stops the workers; reports still being read fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.restarts) clearTimeout(timer);
    this.restarts.clear();
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
      // Copied, not moved: the bytes stay here until answered, to be read again if the worker dies.
      thread.worker.postMessage(jobs);
    }
  }

  /** The ready worker holding the fewest reports; undefined when none is ready. */
  private leastBusy(): Thread | undefined {
    let best: Thread | undefined;
    for (const thread of this.threads)
      if (thread.ready && (best === undefined || thread.pending.size < best.pending.size)) best = thread;
    return best;
  }

  /** Starts a worker; resolves once it is ready or lost. */
  private start(): Promise<void> {
    const worker = new Worker(WORKER, { ...WORKER_OPTIONS, workerData: { faults: this.faults } });
    worker.unref();
    const thread: Thread = { worker, pending: new Map(), queued: [], ready: false };
    this.threads.push(thread);
    return new Promise<void>((started) => {
      worker.on('message', (message: IntakeMessage) => {
        if ('ready' in message) {
          thread.ready = true;
          this.restartMs = RESTART_MS.first;
          started();
          return;
        }
        for (const answer of message) {
          const pending = thread.pending.get(answer.id);
          if (pending === undefined) continue;
          thread.pending.delete(answer.id);
          if ('read' in answer) pending.resolve(answer.read);
          else if ('refusal' in answer) pending.reject(fromRefusal(answer.refusal));
          else pending.reject(new Error(`reading a report failed in its worker: ${answer.failed}`));
        }
      });
      const lost = (error: Error): void => {
        started();
        const at = this.threads.indexOf(thread);
        if (at === -1) return;
        this.threads.splice(at, 1);
        this.readAgain(thread);
        if (this.closed) return;
        this.log?.warn(
          { err: error, restartInMs: this.restartMs },
          'a report intake worker was lost; reports are read on the event loop until it is replaced',
        );
        const timer = setTimeout(() => {
          this.restarts.delete(timer);
          void this.start();
        }, this.restartMs);
        timer.unref();
        this.restarts.add(timer);
        this.restartMs = Math.min(RESTART_MS.most, this.restartMs * 2);
      };
      worker.on('error', (error) => lost(new Error(`a report intake worker failed: ${error.message}`)));
      worker.on('exit', (code) => lost(new Error(`a report intake worker exited (${code})`)));
    });
  }

  /** Reads in process what a lost worker held, so that its loss fails none of them. */
  private readAgain(thread: Thread): void {
    for (const { job, resolve, reject } of thread.pending.values())
      readInProcess(job.bytes, job.targetId, job.publicKey).then(resolve, reject);
    thread.pending.clear();
    thread.queued = [];
  }

  private fail(thread: Thread, error: Error): void {
    for (const { reject } of thread.pending.values()) reject(error);
    thread.pending.clear();
    thread.queued = [];
  }
}

/** Reads a report on the event loop, its signature checked on libuv's thread pool. */
async function readInProcess(bytes: Uint8Array, targetId: string, publicKey: string | undefined): Promise<ReadReport> {
  return readReport(bytes, targetId, publicKey, (canonical, signature, key) =>
    verifyCanonicalInPool('report', canonical, signature, key),
  );
}

const { entry: WORKER, options: WORKER_OPTIONS } = workerEntry(import.meta.url, 'report-intake-worker');
