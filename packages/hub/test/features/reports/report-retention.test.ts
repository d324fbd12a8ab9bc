import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultPoint, SignedReport } from '@flotilla/protocol';
import { REPORT_CHAIN_GENESIS, ReportsFileWriter, type ChainPoint } from '@flotilla/protocol/offline';
import { serveConfig } from '../../../src/config.ts';
import { ReportRetention } from '../../../src/features/reports/report-retention.ts';
import { ReportStore } from '../../../src/features/reports/report-store.ts';
import { SOLE_REPLICA, type OnceOnly } from '../../../src/features/replicas/replica-lease.ts';
import { transactions } from '../../../src/store/transaction.ts';
import { SQLITE } from '../../store-kinds.ts';
import { insertTarget } from '../../store-rows.ts';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

const DAY = 86_400_000;

let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

async function enrolled(h: TestHub, name: string): Promise<ProtocolAgent> {
  const created = await call(h.url, 'POST', '/v1/enrollment-tokens', {
    token: h.adminToken,
    body: JSON.stringify({ maxUses: 1, ttlSeconds: 600 }),
  });
  const agent = new ProtocolAgent(h);
  await agent.enroll(created.body.token, name, h.now());
  return agent;
}

async function send(h: TestHub, agent: ProtocolAgent, report: SignedReport) {
  return call(h.url, 'POST', `/v1/targets/${agent.targetId}/reports`, {
    token: await agent.accessToken(h.now()),
    body: JSON.stringify(report),
  });
}

async function sendAll(h: TestHub, agent: ProtocolAgent, seqs: readonly number[]): Promise<SignedReport[]> {
  const sent: SignedReport[] = [];
  for (const seq of seqs) {
    const report = agent.signedReport(seq, h.now());
    expect((await send(h, agent, report)).status).toBe(201);
    sent.push(report);
  }
  return sent;
}

const held = (h: TestHub, agent: ProtocolAgent) => h.opened.hub.services.reports.heldSeqs(agent.targetId, 0, 1_000);
const prune = (h: TestHub) => h.opened.hub.services.reportRetention.prune();

describe('report retention', () => {
  it("removes the reports received before the retention, keeping each target's newest and what it last reported", async () => {
    hub = await startTestHub();
    const busy = await enrolled(hub, 'busy');
    const quiet = await enrolled(hub, 'quiet');
    await sendAll(hub, busy, [1, 2, 3]);
    await sendAll(hub, quiet, [1]);
    hub.advance(31 * DAY);
    await sendAll(hub, busy, [4]);

    const before = hub.now();
    const pruned = await prune(hub);
    expect(pruned).toMatchObject({ removed: 3 });
    expect(pruned!.olderThan).toBeGreaterThanOrEqual(before - 30 * DAY);
    expect(pruned!.olderThan).toBeLessThanOrEqual(hub.now() - 30 * DAY);
    expect(held(hub, busy)).toEqual([4]);
    expect(held(hub, quiet)).toEqual([1]);
    expect(hub.opened.hub.services.reports.last(quiet.targetId).last?.seq).toBe(1);
    const target = await call(hub.url, 'GET', `/v1/targets/${quiet.targetId}`, { token: hub.adminToken });
    expect(target.body.observed.seq).toBe(1);
  });

  it('audits each prune that removed something once, as the system, with the count and the cutoff, and counts it in the metrics', async () => {
    hub = await startTestHub();
    const agent = await enrolled(hub, 'site');
    await sendAll(hub, agent, [1, 2, 3]);
    hub.advance(31 * DAY);
    const { olderThan } = (await prune(hub))!;
    await prune(hub);
    const audit = await call(hub.url, 'GET', '/v1/audit?action=report.prune&limit=10', { token: hub.adminToken });
    expect(audit.body.entries).toHaveLength(1);
    expect(audit.body.entries[0]).toMatchObject({
      actor: { kind: 'system', id: 'report-retention' },
      outcome: 'success',
      details: { removed: 2, olderThan: new Date(olderThan).toISOString() },
    });
    expect((await hub.opened.hub.metrics.scrape()).body).toMatch(/^flotilla_reports_pruned_total 2$/m);
  });

  it('prunes in batches of the size set, each in a transaction of its own', async () => {
    const batches: FaultPoint[] = [];
    hub = await startTestHub({
      reportPruneBatch: 2,
      faults: { reach: (point) => void (point === 'report-retention:batch' && batches.push(point)) },
    });
    const agent = await enrolled(hub, 'site');
    await sendAll(hub, agent, [1, 2, 3, 4, 5, 6]);
    hub.advance(31 * DAY);
    batches.length = 0;
    expect(await prune(hub)).toMatchObject({ removed: 5 });
    expect(batches).toHaveLength(3);
    expect(held(hub, agent)).toEqual([6]);
  });
  it('still refuses a replayed report after its row was pruned, and a lower seq never sent, as a reused seq', async () => {
    hub = await startTestHub();
    const agent = await enrolled(hub, 'site');
    const [, second] = await sendAll(hub, agent, [1, 2, 5]);
    hub.advance(31 * DAY);
    await sendAll(hub, agent, [6]);
    await prune(hub);
    expect(held(hub, agent)).toEqual([6]);

    const replayed = await send(hub, agent, second!);
    expect(replayed.status).toBe(409);
    expect(replayed.body.error).toMatchObject({ code: 'REPORT_SEQ_CONFLICT', details: { lastSeq: 6 } });
    const lower = await send(hub, agent, agent.signedReport(3, hub.now()));
    expect(lower.status).toBe(409);
    expect(lower.body.error).toMatchObject({ code: 'REPORT_SEQ_CONFLICT', details: { lastSeq: 6 } });
    expect(held(hub, agent)).toEqual([6]);
    expect((await send(hub, agent, agent.signedReport(7, hub.now()))).status).toBe(201);
  });
  it('imports the next reports file after a prune, and ingests nothing from a file imported before it', async () => {
    hub = await startTestHub();
    const h = hub;
    const agent = await enrolled(h, 'edge');
    const files: string[] = [];
    let base: ChainPoint = REPORT_CHAIN_GENESIS;
    const file = (seqs: readonly number[]): string => {
      const writer = new ReportsFileWriter({
        key: agent.key,
        targetId: agent.targetId,
        base,
        createdAt: new Date(h.now()).toISOString(),
      });
      const lines = [writer.header(), ...seqs.map((seq) => writer.link(agent.signedReport(seq, h.now())))];
      const { line, seal } = writer.seal();
      base = seal.head;
      files.push([...lines, line].join(''));
      return files.at(-1)!;
    };
    const importFile = (body: string) =>
      call(h.url, 'POST', '/v1/offline/reports', { token: h.adminToken, body, contentType: 'application/x-ndjson' });

    const first = file([1, 2, 3]);
    expect((await importFile(first)).body.receipt.accepted).toEqual([{ from: 1, to: 3 }]);
    h.advance(31 * DAY);
    expect((await importFile(file([4, 5]))).body.receipt.accepted).toEqual([{ from: 4, to: 5 }]);
    await prune(h);
    expect(held(h, agent)).toEqual([4, 5]);

    const next = await importFile(file([6, 7]));
    expect(next.status).toBe(200);
    expect(next.body.receipt).toMatchObject({ accepted: [{ from: 6, to: 7 }], gaps: [], forks: [] });
    const replayed = await importFile(first);
    expect(replayed.status).toBe(200);
    expect(replayed.body.receipt).toMatchObject({ accepted: [], duplicates: [{ from: 1, to: 3 }], gaps: [] });
    expect(held(h, agent)).toEqual([4, 5, 6, 7]);
  });
});

describe('report retention with replicas', () => {
  it('prunes nothing on a replica that does not hold the lease, and the holder prunes', async () => {
    const opened = SQLITE.open();
    try {
      insertTarget(opened.db, { id: 'site' });
      const store = new ReportStore(opened.db);
      for (const seq of [1, 2, 3]) store.insert('site', seq, 1, 1_000 + seq, JSON.stringify({ report: { seq } }));
      const retention = (once: OnceOnly) =>
        new ReportRetention({
          tx: transactions(opened.db),
          store,
          audit: { append: () => undefined },
          clock: () => 40 * DAY,
          log: pino({ level: 'silent' }),
          retentionMs: 30 * DAY,
          failures: { report: () => undefined },
          once,
        });
      expect(await retention({ run: () => undefined, held: () => false }).prune()).toBeUndefined();
      expect(store.heldSeqs('site', 0, 10)).toEqual([1, 2, 3]);
      expect(await retention(SOLE_REPLICA).prune()).toMatchObject({ removed: 2 });
      expect(store.heldSeqs('site', 0, 10)).toEqual([3]);
    } finally {
      opened.close();
    }
  });
});

describe('the report retention setting', () => {
  it('reads a duration in hours or days, 30 days by default', () => {
    expect(serveConfig({}, {}).reportRetention).toBe(30 * DAY);
    expect(serveConfig({}, { FLOTILLA_REPORT_RETENTION: '7d' }).reportRetention).toBe(7 * DAY);
    expect(serveConfig({ reportRetention: '12h' }, { FLOTILLA_REPORT_RETENTION: '7d' }).reportRetention).toBe(
      12 * 3_600_000,
    );
  });

  it.each(['0d', '0h', '-5d', '30', '30 days', '1.5d', '', '36501d'])(
    'refuses %j at start with an error that names the setting and the form it takes',
    (value) => {
      expect(() => serveConfig({}, { FLOTILLA_REPORT_RETENTION: value })).toThrow(
        expect.objectContaining({
          code: 'CONFIG_INVALID',
          message: expect.stringMatching(/^reportRetention: must be a duration in hours or days, such as 30d/),
        }),
      );
    },
  );

  it.each([0, -DAY, Number.NaN, 60_000])('refuses a retention of %d ms where a hub is built', (retentionMs) => {
    const opened = SQLITE.open();
    try {
      expect(
        () =>
          new ReportRetention({
            tx: transactions(opened.db),
            store: new ReportStore(opened.db),
            audit: { append: () => undefined },
            clock: Date.now,
            log: pino({ level: 'silent' }),
            retentionMs,
            failures: { report: () => undefined },
          }),
      ).toThrow(/reportRetentionMs must be at least one hour/);
    } finally {
      opened.close();
    }
  });
});
