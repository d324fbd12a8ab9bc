/**
 * The worker thread of {@link WalCheckpointer}: its own connection to the hub's SQLite file,
 * which copies the WAL's committed pages into the database file (a PASSIVE checkpoint) each time
 * the WAL has changed, so that no commit on the event loop has to.
 */
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { FaultPoint } from '@flotilla/protocol';
import type { CheckpointMessage, CheckpointWorkerData } from './wal-checkpointer.ts';

const port = parentPort;
if (port === null) throw new Error('wal-checkpoint-worker runs as a worker thread');
const { path, intervalMs, pinnedBytes, faults: armed } = workerData as CheckpointWorkerData;

const db = new Database(path);
// PASSIVE never waits on the busy handler; none is set, so that nothing here waits on the hub.
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const pageSize = db.pragma('page_size', { simple: true }) as number;
// Test-only: a fault armed at wal-checkpoint:start kills the whole hub; at wal-checkpoint:worker
// it ends this thread, as a crash of it would. Counted here rather than with the protocol
// package's faultPoints, which would load all of that package (zod, the schemas) into the thread.
const reached = new Map<FaultPoint, number>();
function reach(point: FaultPoint): void {
  if (armed.length === 0) return;
  const count = (reached.get(point) ?? 0) + 1;
  reached.set(point, count);
  if (!armed.some((fault) => fault.point === point && fault.hit === count)) return;
  if (point === 'wal-checkpoint:worker') process.exit(70);
  process.kill(process.pid, 'SIGKILL');
}

let seen = '';
let pinned = false;
const timer = setInterval(pass, intervalMs);
port.postMessage({ ready: true } satisfies CheckpointMessage);

port.on('message', (message: 'close') => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  port.close();
});

function pass(): void {
  const wal = walState();
  if (wal === undefined || wal.key === seen) return;
  reach('wal-checkpoint:start');
  reach('wal-checkpoint:worker');
  const [row] = checkpoint.all() as { busy: number; log: number; checkpointed: number }[];
  seen = wal.key;
  if (row === undefined) return;
  port!.postMessage({ log: row.log, checkpointed: row.checkpointed } satisfies CheckpointMessage);
  // Frames left behind are pinned by a reader on an older snapshot (a backup, an operator's
  // shell): no checkpoint can pass it, and the WAL grows until it lets go. Say so, once.
  const nowPinned = row.checkpointed < row.log && row.log * pageSize >= pinnedBytes;
  if (nowPinned !== pinned) {
    pinned = nowPinned;
    port!.postMessage({ pinned: nowPinned, walBytes: row.log * pageSize } satisfies CheckpointMessage);
  }
}

/** The WAL file's size and modification time as one key: a change means frames were written. */
function walState(): { readonly key: string } | undefined {
  try {
    const stat = statSync(`${path}-wal`, { bigint: true });
    return { key: `${stat.size}:${stat.mtimeNs}` };
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}
