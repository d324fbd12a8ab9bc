import { afterAll, describe, expect, it, vi } from 'vitest';
import { API_VERSION, generateKeyPair, signPayload, type Report } from '@flotilla/protocol';
import { ReportIntake } from '../../../src/features/reports/report-intake.ts';

const key = generateKeyPair();
const targetId = 'tgt_00000000000000000001';

function report(overrides: Partial<Report> = {}): Report {
  return {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId,
    seq: 1,
    generation: 0,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [],
    facts: { driver: 'test' },
    observedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const signed = (r: Report, by = key): string => JSON.stringify({ report: r, signature: signPayload('report', r, by) });

// What an adversary sends, beside what an agent does, and what the intake makes of it.
const bodies: Record<string, { readonly body: string; readonly expected: object }> = {
  'a report signed by its target': { body: signed(report()), expected: { read: { kind: 'checked', valid: true } } },
  'a report signed by another key': {
    body: signed(report(), generateKeyPair()),
    expected: { read: { kind: 'checked', valid: false } },
  },
  'a report about another target': {
    body: signed(report({ targetId: 'tgt_00000000000000000002' })),
    expected: { read: { kind: 'unchecked' } },
  },
  'a report changed after it was signed': {
    body: signed(report()).replace('"seq":1', '"seq":2'),
    expected: { read: { kind: 'checked', valid: false } },
  },
  'text that is not JSON': { body: '{"report":', expected: { refused: 'BAD_REQUEST' } },
  'JSON that is not a signed report': { body: '{"report":{"seq":"one"}}', expected: { refused: 'VALIDATION_FAILED' } },
  'JSON nested past the limit': {
    body: `{"report":${'['.repeat(300)}${']'.repeat(300)}}`,
    expected: { refused: 'JSON_TOO_DEEP' },
  },
  'bytes that are not UTF-8': { body: '\u00ff{}', expected: { refused: 'BAD_REQUEST' } },
};

const inWorkers = new ReportIntake(2);
const inProcess = new ReportIntake(0);
afterAll(async () => {
  await inWorkers.close();
  await inProcess.close();
});

const outcome = (intake: ReportIntake, body: string, publicKey: string | undefined) =>
  intake.read(new TextEncoder().encode(body), targetId, publicKey).then(
    (read) => ({ read }),
    (error: { code?: string; message: string }) => ({ refused: error.code, message: error.message }),
  );

describe('the report intake on worker threads', () => {
  it.each(Object.keys(bodies))('answers %s as it does in process', async (name) => {
    const { body, expected } = bodies[name]!;
    const worker = await outcome(inWorkers, body, key.publicKey);
    expect(worker).toEqual(await outcome(inProcess, body, key.publicKey));
    expect(worker).toMatchObject(expected);
  });

  it('checks no signature for a target without a key, leaving the refusal to the report service', async () => {
    const worker = await outcome(inWorkers, bodies['a report signed by its target']!.body, undefined);
    expect(worker).toEqual(await outcome(inProcess, bodies['a report signed by its target']!.body, undefined));
    expect(worker).toMatchObject({ read: { kind: 'unchecked' } });
  });

  it('reads many reports at once, each answered as its own', async () => {
    const many = Array.from({ length: 200 }, (_, i) =>
      signed(report({ seq: i + 1 }), i % 3 === 0 ? generateKeyPair() : key),
    );
    const answers = await Promise.all(many.map((body) => outcome(inWorkers, body, key.publicKey)));
    expect(answers.map((a) => ('read' in a && a.read.kind === 'checked' ? a.read.valid : undefined))).toEqual(
      many.map((_, i) => i % 3 !== 0),
    );
    expect(
      answers.map((a) => ('read' in a && a.read.kind === 'checked' ? JSON.parse(a.read.body).report.seq : 0)),
    ).toEqual(many.map((_, i) => i + 1));
  });

  it('reads again in process the reports a worker held when it died, and answers each', async () => {
    // The worker thread ends itself at its second report's read, as a crash of the thread would.
    const intake = new ReportIntake(1, { faults: [{ point: 'report:worker-read', hit: 2 }] });
    await intake.ready;
    const many = Array.from({ length: 20 }, (_, i) => signed(report({ seq: i + 1 })));
    const answers = await Promise.all(many.map((body) => outcome(intake, body, key.publicKey)));
    await intake.close();
    expect(answers.map((a) => ('read' in a && a.read.kind === 'checked' ? a.read.valid : a))).toEqual(
      many.map(() => true),
    );
  });

  it('is ready for the hub after its start-up bound even while a worker still loads, and reads in process meanwhile', async () => {
    // No worker loads its modules in a millisecond: one that never got ready must not keep the
    // hub from listening.
    const intake = new ReportIntake(1, { readyWithinMs: 1 });
    try {
      await intake.ready;
      expect(intake.readyWorkers).toBe(0);
      expect(await outcome(intake, bodies['a report signed by its target']!.body, key.publicKey)).toMatchObject(
        bodies['a report signed by its target']!.expected,
      );
      await vi.waitFor(() => expect(intake.readyWorkers).toBe(1), { timeout: 20_000, interval: 20 });
    } finally {
      await intake.close();
    }
  });

  it('fails the reads it holds when closed, and takes no more', async () => {
    const intake = new ReportIntake(1);
    await intake.ready;
    const pending = outcome(intake, bodies['a report signed by its target']!.body, key.publicKey);
    await intake.close();
    expect(await pending).toMatchObject({ message: expect.stringMatching(/closed/) });
    expect(await outcome(intake, bodies['a report signed by its target']!.body, key.publicKey)).toMatchObject({
      message: expect.stringMatching(/closed/),
    });
  });
});
