/**
 * A worker thread of the report intake (report-intake.ts): reads, validates, canonicalizes and
 * verifies the report bodies the event loop hands it, and answers each with what the report
 * service stores, or the refusal. Answers are posted together once the jobs at hand are done,
 * so that the event loop wakes once for many reports.
 */
import { parentPort } from 'node:worker_threads';
import { verifyCanonical } from '@flotilla/protocol';
import { readReport, toRefusal } from './report-body.ts';
import type { IntakeAnswer, IntakeJob } from './report-intake.ts';

const port = parentPort;
if (port === null) throw new Error('report-intake-worker runs as a worker thread');

let answers: IntakeAnswer[] = [];
let posting = false;
port.on('message', (jobs: readonly IntakeJob[]) => {
  for (const { id, bytes, targetId, publicKey } of jobs) {
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
  port!.postMessage(done);
}
