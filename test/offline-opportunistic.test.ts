/**
 * Opportunistic sync: an agent whose hub is unreachable keeps its last good state, journals
 * its reports, applies transfer files from its inbox, and when the hub is back sends every
 * journaled report in order, each held once by the hub even when it also came in a reports
 * file; online envelopes and files mixed never lower the generation or apply one twice.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Agent, ManifestsDirDriver } from '@flotilla/agent';
import { writeSignedTransfer } from '@flotilla/protocol/offline';
import { OfflineSite } from '../packages/agent/src/offline/offline-site.ts';
import { FileAgentStore } from '../packages/agent/src/agent-state.ts';
import { DriftEngine } from '../packages/agent/src/drift/drift-engine.ts';
import { configMap, silent, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { startPartition, type Partition } from './fixtures/partition.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const OPERATOR = { kind: 'user', tokenId: 'tok_test', name: 'operator', role: 'admin' } as const;

let hub: HubFixture;
let partition: Partition;
let dir: ReturnType<typeof tempDir>;
let agent: Agent;
let targetId: string;
const inbox = () => join(dir.path, 'inbox');
const stateDir = () => join(dir.path, 'state');
const applied: number[] = [];

async function exportTo(path: string): Promise<void> {
  const plan = hub.hub.services.offline.exportPlan({ targets: [targetId] }, OPERATOR);
  const chunks: Uint8Array[] = [];
  for await (const chunk of writeSignedTransfer(
    {
      hubId: plan.signed.manifest.hubId,
      createdAt: plan.signed.manifest.createdAt,
      trustRootSince: 0,
      trustRoots: plan.trustRoots,
      envelopes: plan.envelopes,
      releases: plan.releases,
    },
    plan.signed,
  ))
    chunks.push(Buffer.from(chunk));
  writeFileSync(path, Buffer.concat(chunks));
}

beforeAll(async () => {
  dir = tempDir('flotilla-opportunistic-');
  mkdirSync(inbox());
  hub = await startHub();
  partition = await startPartition(hub.url);
  await hub.publish('app', '1.0.0', [configMap('app', { version: '1' })]);
  await hub.publish('app', '2.0.0', [configMap('app', { version: '2' })]);
  await hub.publish('app', '3.0.0', [configMap('app', { version: '3' })]);
  agent = new Agent({
    hubUrl: partition.url,
    stateDir: stateDir(),
    driver: new ManifestsDirDriver(join(dir.path, 'root')),
    log: process.env['DEBUG_AGENT'] === undefined ? silent : pino({ level: 'debug' }),
    enrollToken: await hub.enrollmentToken(1),
    name: 'edge-sometimes',
    waitSeconds: 1,
    observeIntervalMs: 200,
    backoff: { baseMs: 20, maxMs: 100 },
    inboxDir: inbox(),
    inboxIntervalMs: 50,
  });
  agent.on('applied', (generation: number) => applied.push(generation));
  targetId = (await agent.start()).targetId;
});

afterAll(async () => {
  await agent.stop();
  await partition.close();
  await hub.dispose();
  dir.remove();
});

const ledger = () => hub.hub.services.reports;

describe('an agent whose hub comes and goes', () => {
  it('applies files while the hub is away, then sends every journaled report once, in order, and stays on the newest generation', async () => {
    expect((await hub.assign(targetId, ['app@1.0.0'])).status).toBe(200);
    await waitFor('generation 1 online', () => applied.includes(1));
    // The agent applies before the hub has stored its report (a report worker reads it first):
    // cut only once every report made so far was answered, so none lands after the cut.
    const journal = join(stateDir(), 'journal');
    const pending = () => readdirSync(journal).filter((f) => f.endsWith('.report.json')).length;
    await waitFor('generation 1 reported', () => pending() === 0 && ledger().highest(targetId).generation === 1);
    const before = ledger().highest(targetId).seq;

    partition.cut();
    expect((await hub.assign(targetId, ['app@2.0.0'])).status).toBe(200);
    await exportTo(join(inbox(), 'gen-2.flotilla'));
    await waitFor('generation 2 from the inbox', () => applied.includes(2));
    // While away, reports pile up in the journal; the hub receives none of them.
    await waitFor('a journaled report', () => pending() > 0);
    expect(ledger().highest(targetId).seq).toBe(before);

    // Part of the journal also crosses as a file, and is ingested there first.
    const site = new OfflineSite({
      store: new FileAgentStore(stateDir()),
      enrollment: { targetId, name: 'edge-sometimes', hubId: '', audience: '' },
      driver: new ManifestsDirDriver(join(dir.path, 'unused')),
      drift: new DriftEngine({
        driver: new ManifestsDirDriver(join(dir.path, 'unused')),
        log: silent,
        clock: Date.now,
        dir: stateDir(),
      }),
      log: silent,
      clock: Date.now,
    });
    await site.exportReports(join(dir.path, 'reports.jsonl'));
    const { receipt } = await hub.hub.services.offline.importReports(join(dir.path, 'reports.jsonl'), OPERATOR);
    expect(receipt.receipt.accepted.length).toBeGreaterThan(0);
    const viaFile = receipt.receipt.head.seq;

    partition.restore();
    await waitFor('the journal sent', () => pending() === 0 && ledger().highest(targetId).seq >= viaFile);
    const seqs = ledger().heldSeqs(targetId, 1, ledger().highest(targetId).seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    // The hub writes check-in times every few seconds: the target shows online once it has.
    await waitFor('the target online again', () => hub.hub.services.offline.list().items[0]?.sync === 'online');
    expect(agent.current.appliedGeneration).toBe(2);

    // Online again: the generation the file brought is not applied again; a newer one is.
    expect((await hub.assign(targetId, ['app@3.0.0'])).status).toBe(200);
    await waitFor('generation 3 online', () => applied.includes(3));
    expect(applied).toEqual([1, 2, 3]);

    // The old file dropped in again is a rollback: refused, and generation 3 stays.
    copyFileSync(join(inbox(), 'gen-2.flotilla'), join(inbox(), 'gen-2-again.flotilla'));
    const seen = join(stateDir(), 'inbox-seen.json');
    const outcome = await waitFor('the inbox to handle the old file', () => {
      const handled = existsSync(seen) ? (JSON.parse(readFileSync(seen, 'utf8')) as Record<string, string>) : {};
      return Object.entries(handled).find(([key]) => key.startsWith('gen-2-again.flotilla:'))?.[1];
    });
    expect(outcome).toBe('refused: ENVELOPE_ROLLBACK');
    expect(agent.current.appliedGeneration).toBe(3);
    expect(
      readFileSync(
        join(
          dir.path,
          'root',
          readdirSync(join(dir.path, 'root')).find((f) => f.endsWith('.yaml'))!,
        ),
        'utf8',
      ),
    ).toContain('version: "3"');
  }, 60_000);
});
