/**
 * A process that starts a report intake with one worker, spends every file descriptor it has
 * left, then hands the intake signed reports: what report-intake-fds.test.ts runs under a low
 * open-file limit. With the argument `before-start` it spends them before starting the intake,
 * so that its worker cannot start. Prints each report's outcome as one JSON line.
 */
import { openSync } from 'node:fs';
import { API_VERSION, generateKeyPair, signPayload, type Report } from '@flotilla/protocol';
import { ReportIntake } from '../../../src/features/reports/report-intake.ts';

const key = generateKeyPair();
const targetId = 'tgt_00000000000000000001';
const bodies = Array.from({ length: 50 }, (_, i) => {
  const report: Report = {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId,
    seq: i + 1,
    generation: 0,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [],
    facts: { driver: 'test' },
    observedAt: '2026-01-01T00:00:00.000Z',
  };
  return new TextEncoder().encode(JSON.stringify({ report, signature: signPayload('report', report, key) }));
});

const held: number[] = [];
function spendDescriptors(): void {
  try {
    for (;;) held.push(openSync('/dev/null', 'r'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EMFILE') throw error;
  }
}

if (process.argv[2] === 'before-start') spendDescriptors();
const intake = new ReportIntake(1);
await intake.ready;
spendDescriptors();
const outcomes = await Promise.allSettled(bodies.map((bytes) => intake.read(bytes, targetId, key.publicKey)));
process.stdout.write(
  `${JSON.stringify({
    held: held.length,
    outcomes: outcomes.map((outcome) =>
      outcome.status === 'rejected'
        ? `failed: ${(outcome.reason as Error).message}`
        : outcome.value.kind === 'checked' && outcome.value.valid
          ? 'verified'
          : outcome.value.kind,
    ),
  })}\n`,
);
process.exit(0);
