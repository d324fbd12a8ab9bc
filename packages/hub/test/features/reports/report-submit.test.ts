import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  canonicalize,
  faultPoints,
  generateKeyPair,
  signPayload,
  type Report,
  type SignedReport,
} from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

// L, the group order, little-endian: adding it to S re-encodes a valid signature non-canonically.
const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');

function malleate(sig: string): string {
  const bytes = Buffer.from(sig, 'base64url');
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = bytes[32 + i]! + L[i]! + carry;
    bytes[32 + i] = sum & 0xff;
    carry = sum >> 8;
  }
  return bytes.toString('base64url');
}

/** An agent enrolled with `enrollToken`, and its access token. */
async function enrolledAgent(
  hub: TestHub,
  enrollToken: string,
  name: string,
): Promise<{ agent: ProtocolAgent; token: string }> {
  const a = new ProtocolAgent(hub);
  await a.enroll(enrollToken, name, hub.now());
  return { agent: a, token: await a.accessToken(hub.now()) };
}

/** Report `seq` of a target, applied and healthy, observed now. */
function reportOf(hub: TestHub, targetId: string, seq: number): Report {
  return {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId,
    seq,
    generation: 0,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [],
    facts: { driver: 'test', note: 'ünïcode ✓' },
    observedAt: new Date(hub.now()).toISOString(),
  };
}

// Every case on both paths: bodies read and verified by the worker threads of the report
// intake, and in process on the event loop (`reportWorkers: 0`), which must answer alike.
describe.each([
  { path: 'worker threads', workers: 1 },
  { path: 'the event loop', workers: 0 },
])('reports taken by POST /v1/targets/{id}/reports, read on $path', ({ workers }) => {
  let hub: TestHub;
  let enrollToken: string;

  beforeEach(async () => {
    hub = await startTestHub({ reportWorkers: workers });
    const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ maxUses: 20, ttlSeconds: 600 }),
    });
    enrollToken = created.body.token;
  });
  afterEach(async () => {
    await hub.close();
  });

  const agent = (name: string) => enrolledAgent(hub, enrollToken, name);
  const report = (targetId: string, seq: number) => reportOf(hub, targetId, seq);

  const send = (targetId: string, token: string, signed: SignedReport) =>
    call(hub.url, 'POST', `/v1/targets/${targetId}/reports`, { token, body: JSON.stringify(signed) });

  it('stores each report as the canonical JSON of what the agent signed', async () => {
    const { agent: a, token } = await agent('site-a');
    const r = report(a.targetId, 1);
    // Keys out of order on the wire: what is stored is canonical whatever the order sent.
    const signed = { signature: signPayload('report', r, a.key), report: r };
    expect((await send(a.targetId, token, signed)).status).toBe(201);
    expect(hub.opened.hub.services.reports.stored(a.targetId, 1)).toBe(canonicalize(signed));
  });

  it('refuses a report signed by another key, and audits the refusal', async () => {
    const { agent: a, token } = await agent('site-a');
    const r = report(a.targetId, 1);
    const answer = await send(a.targetId, token, { report: r, signature: signPayload('report', r, generateKeyPair()) });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('SIGNATURE_INVALID');
    expect(hub.opened.hub.services.reports.stored(a.targetId, 1)).toBeUndefined();
    const audit = await call(hub.url, 'GET', '/v1/audit?action=report.submit&limit=10', { token: hub.adminToken });
    expect(audit.body.entries.map((e: { reason?: string }) => e.reason)).toContain('SIGNATURE_INVALID');
  });

  it('refuses a valid signature re-encoded with S beyond the group order', async () => {
    const { agent: a, token } = await agent('site-a');
    const r = report(a.targetId, 1);
    const signature = signPayload('report', r, a.key);
    const answer = await send(a.targetId, token, {
      report: r,
      signature: { ...signature, sig: malleate(signature.sig) },
    });
    expect(answer.body.error?.code).toBe('SIGNATURE_INVALID');
    expect(hub.opened.hub.services.reports.stored(a.targetId, 1)).toBeUndefined();
  });

  it('takes a burst from many agents at once, each report stored once', async () => {
    const agents = await Promise.all(Array.from({ length: 8 }, (_, i) => agent(`site-${i}`)));
    const answers = await Promise.all(
      agents.flatMap(({ agent: a, token }) =>
        [1, 2, 3].map((seq) => {
          const r = report(a.targetId, seq);
          return send(a.targetId, token, { report: r, signature: signPayload('report', r, a.key) });
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    for (const { agent: a } of agents) {
      expect(hub.opened.hub.services.reports.heldSeqs(a.targetId, 1, 10)).toEqual([1, 2, 3]);
      expect(hub.opened.hub.services.reports.last(a.targetId).last?.seq).toBe(3);
    }
  });

  const sendText = (targetId: string, token: string, body: string) =>
    call(hub.url, 'POST', `/v1/targets/${targetId}/reports`, { token, body });

  it('refuses a report about another target, and audits the refusal', async () => {
    const { agent: a, token } = await agent('site-a');
    const { agent: b } = await agent('site-b');
    const r = report(b.targetId, 1);
    const answer = await send(a.targetId, token, { report: r, signature: signPayload('report', r, a.key) });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
    expect(hub.opened.hub.services.reports.stored(a.targetId, 1)).toBeUndefined();
    expect(hub.opened.hub.services.reports.stored(b.targetId, 1)).toBeUndefined();
    const audit = await call(hub.url, 'GET', '/v1/audit?action=report.submit&limit=10', { token: hub.adminToken });
    expect(audit.body.entries.map((e: { reason?: string }) => e.reason)).toContain('FORBIDDEN');
  });

  it('answers a resent report as a duplicate, and refuses a reused seq with other content', async () => {
    const { agent: a, token } = await agent('site-a');
    const first = report(a.targetId, 1);
    const signed = { report: first, signature: signPayload('report', first, a.key) };
    expect((await send(a.targetId, token, signed)).status).toBe(201);
    const again = await send(a.targetId, token, signed);
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    const other = { ...first, phase: 'failed' as const };
    const reused = await send(a.targetId, token, { report: other, signature: signPayload('report', other, a.key) });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('REPORT_SEQ_CONFLICT');
    expect(hub.opened.hub.services.reports.stored(a.targetId, 1)).toBe(canonicalize(signed));
  });

  it('refuses a body that is not JSON, or not a signed report, naming the problem', async () => {
    const { agent: a, token } = await agent('site-a');
    const broken = await sendText(a.targetId, token, '{"report":');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('BAD_REQUEST');
    const r = report(a.targetId, 1);
    const invalid = await sendText(
      a.targetId,
      token,
      JSON.stringify({ report: { ...r, seq: -1 }, signature: signPayload('report', r, a.key) }),
    );
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('VALIDATION_FAILED');
    expect(invalid.body.error.message).toMatch(/seq/);
    expect(hub.opened.hub.services.reports.heldSeqs(a.targetId, 0, 10)).toEqual([]);
  });

  it('refuses a report nested deeper than the JSON limit', async () => {
    const { agent: a, token } = await agent('site-a');
    const r = report(a.targetId, 1);
    const text = JSON.stringify({ report: r, signature: signPayload('report', r, a.key) }).replace(
      '"driver":"test"',
      `"driver":"test","deep":${'['.repeat(5000)}${']'.repeat(5000)}`,
    );
    const answer = await sendText(a.targetId, token, text);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('JSON_TOO_DEEP');
  });

  it('refuses a report larger than 4 MB', async () => {
    const { agent: a, token } = await agent('site-a');
    const r = { ...report(a.targetId, 1), facts: { driver: 'test', padding: 'x'.repeat(4 * 1024 * 1024) } };
    const answer = await send(a.targetId, token, { report: r, signature: signPayload('report', r, a.key) });
    expect(answer.status).toBe(413);
    expect(answer.body.error.code).toBe('BODY_TOO_LARGE');
  });
});

describe('a report worker that dies while reading', () => {
  it('answers every report it held, each stored once', async () => {
    // The worker thread ends itself at the third report handed to it (test-only fault point).
    const hub = await startTestHub({
      reportWorkers: 1,
      faults: faultPoints([{ point: 'report:worker-read', hit: 3 }], () => {
        throw new Error('report:worker-read is reached only in the worker thread');
      }),
    });
    try {
      const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
        token: hub.adminToken,
        body: JSON.stringify({ maxUses: 8, ttlSeconds: 600 }),
      });
      const agents = await Promise.all(
        Array.from({ length: 8 }, (_, i) => enrolledAgent(hub, created.body.token, `site-${i}`)),
      );
      const answers = await Promise.all(
        agents.flatMap(({ agent: a, token }) =>
          [1, 2, 3].map((seq) => {
            const r = reportOf(hub, a.targetId, seq);
            return call(hub.url, 'POST', `/v1/targets/${a.targetId}/reports`, {
              token,
              body: JSON.stringify({ report: r, signature: signPayload('report', r, a.key) }),
            });
          }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
      for (const { agent: a } of agents)
        expect(hub.opened.hub.services.reports.heldSeqs(a.targetId, 1, 10)).toEqual([1, 2, 3]);
    } finally {
      await hub.close();
    }
  });
});
