/**
 * A worker thread of the report intake (report-intake.ts): reads, validates, canonicalizes and
 * verifies the report bodies the event loop hands it, and answers each with what the report
 * service stores, or the refusal. Answers are posted together once the jobs at hand are done,
 * so that the event loop wakes once for many reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  API_VERSION,
  faultPoints,
  generateKeyPair,
  signPayload,
  verifyCanonical,
  type ArmedFault,
  type Report,
} from '@flotilla/protocol';
import { readReport, toRefusal } from './report-body.ts';
import type { IntakeAnswer, IntakeJob, IntakeMessage } from './report-intake.ts';

const port = parentPort;
if (port === null) throw new Error('report-intake-worker runs as a worker thread');

// One report read before the worker says it is ready, so that whatever is loaded or set up on
// first use is in place before the hub could run out of file descriptors.
const key = generateKeyPair();
const sample: Report = {
  apiVersion: API_VERSION,
  kind: 'Report',
  targetId: 'tgt_00000000000000000000',
  seq: 1,
  generation: 0,
  phase: 'applied',
  health: 'healthy',
  bundles: [],
  resources: [],
  facts: {},
  observedAt: new Date(0).toISOString(),
};
const warm = readReport(
  new TextEncoder().encode(JSON.stringify({ report: sample, signature: signPayload('report', sample, key) })),
  sample.targetId,
  key.publicKey,
  (canonical, signature, publicKey) => verifyCanonical('report', canonical, signature, publicKey),
);
if (warm.kind !== 'checked' || !warm.valid) throw new Error('report-intake-worker could not read a report at start');
port.postMessage({ ready: true } satisfies IntakeMessage);

// Test-only: a fault armed at report:worker-read ends this thread, as a crash of it would.
const faults = faultPoints((workerData as { faults?: ArmedFault[] } | null)?.faults ?? [], () => process.exit(70));

let answers: IntakeAnswer[] = [];
let posting = false;
port.on('message', (jobs: readonly IntakeJob[]) => {
  for (const { id, bytes, targetId, publicKey } of jobs) {
    faults.reach('report:worker-read');
    try {
      answers.push({
        id,
        read: readReport(bytes, targetId, publicKey, (canonical, signature, key) =>
          verifyCanonical('report', canonical, signature, key),
        ),
      });
    } catch (error) {
      const refusal = toRefusal(error);
      answers.push(
        refusal === undefined
          ? { id, failed: error instanceof Error ? error.message : String(error) }
          : { id, refusal },
      );
    }
  }
  if (!posting) {
    posting = true;
    setImmediate(post);
  }
});

function post(): void {
  const done = answers;
  answers = [];
  posting = false;
  port!.postMessage(done satisfies IntakeMessage);
}
