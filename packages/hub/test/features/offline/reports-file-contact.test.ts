import { afterEach, describe, expect, it, vi } from 'vitest';
import { REPORT_CHAIN_GENESIS, ReportsFileWriter } from '@flotilla/protocol/offline';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

// The report service is wrapped before the offline import reaches it (metrics, live events); a
// wrapper that drops `via` turns a carried report into contact, and the target looks online.

let hub: TestHub | undefined;

afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const admin = (h: TestHub, method: string, path: string, body?: unknown) =>
  call(h.url, method, path, { token: h.adminToken, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

async function enrolled(h: TestHub): Promise<ProtocolAgent> {
  const agent = new ProtocolAgent(h);
  const token = (await admin(h, 'POST', '/v1/enrollment-tokens', {})).body.token as string;
  await agent.enroll(token, 'edge-1', h.now());
  return agent;
}

function reportsFile(h: TestHub, agent: ProtocolAgent, seqs: readonly number[]): string {
  const writer = new ReportsFileWriter({
    key: agent.key,
    targetId: agent.targetId,
    base: REPORT_CHAIN_GENESIS,
    createdAt: new Date(h.now()).toISOString(),
  });
  return [
    writer.header(),
    ...seqs.map((seq) => writer.link(agent.signedReport(seq, h.now()))),
    writer.seal().line,
  ].join('');
}

async function importFile(h: TestHub, body: string): Promise<void> {
  const answer = await call(h.url, 'POST', '/v1/offline/reports', {
    token: h.adminToken,
    body,
    contentType: 'application/x-ndjson',
  });
  expect(answer.status).toBe(200);
  expect(answer.body.receipt.accepted).not.toEqual([]);
}

const target = async (h: TestHub, agent: ProtocolAgent) =>
  (await admin(h, 'GET', `/v1/targets/${agent.targetId}`)).body as {
    lastSeenAt: string | null;
    observed?: { seq: number };
  };

describe('a report carried in a reports file, through the hub as wired', () => {
  it('is stored and counted, but leaves a target never seen online never seen', async () => {
    hub = await startTestHub();
    const agent = await enrolled(hub);
    hub.advance(60_000);
    await importFile(hub, reportsFile(hub, agent, [1, 2]));

    const after = await target(hub, agent);
    expect(after.observed?.seq).toBe(2);
    expect(after.lastSeenAt).toBeNull();
    const { items } = (await admin(hub, 'GET', '/v1/offline/targets')).body;
    expect(items.find((t: { targetId: string }) => t.targetId === agent.targetId)).toMatchObject({
      sync: 'offline-synced',
      lastContactAt: null,
    });
    const metrics = (await hub.opened.hub.metrics.scrape()).body;
    expect(metrics).toMatch(/^flotilla_reports_accepted_total 2$/m);
    expect(metrics).toMatch(/^flotilla_agents_not_seen 1$/m);
  });

  it('leaves the last contact of a target seen online at that check-in, not at the import', async () => {
    hub = await startTestHub({ lastSeenFlushMs: 20 });
    const h = hub;
    const agent = await enrolled(h);
    const token = await agent.accessToken(h.now());
    const checkIn = await call(h.url, 'GET', `/v1/targets/${agent.targetId}/envelope?wait=0`, { token });
    expect(checkIn.status).toBeLessThan(500);
    // Check-ins reach the store lazily: wait for this one to be written before moving on.
    const seenAt = await vi.waitFor(
      async () => {
        const { lastSeenAt } = await target(h, agent);
        if (lastSeenAt === null) throw new Error('the check-in is not written yet');
        return lastSeenAt;
      },
      { timeout: 10_000, interval: 20 },
    );

    h.advance(10 * 60_000);
    await importFile(h, reportsFile(h, agent, [1]));

    expect((await target(h, agent)).observed?.seq).toBe(1);
    expect((await target(h, agent)).lastSeenAt).toBe(seenAt);
  });
});
