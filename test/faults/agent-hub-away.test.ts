import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import { manifestFileName } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from '../fixtures/hub-fixture.ts';
import { tempDir } from '../fixtures/temp-dir.ts';
import { waitFor } from '../fixtures/wait-for.ts';

let hub: HubFixture | undefined;
let agent: AgentFixture | undefined;
let dir: ReturnType<typeof tempDir> | undefined;

afterEach(async () => {
  await agent?.agent.stop();
  await hub?.dispose();
  dir?.remove();
  agent = undefined;
  hub = undefined;
  dir = undefined;
});

/** A logger whose JSON lines the test reads. */
function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    }),
  );
  return { log, lines };
}

/** The seqs of the reports the hub holds for a target, read from its database. */
function storedSeqs(dataDir: string, targetId: string): number[] {
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  try {
    return (
      db.prepare('SELECT seq FROM reports WHERE target_id = ? ORDER BY seq').all(targetId) as { seq: number }[]
    ).map((row) => row.seq);
  } finally {
    db.close();
  }
}

async function appliedRelease(h: HubFixture, targetId: string): Promise<void> {
  await h.publish('app', '1.0.0', [configMap('app', { greeting: 'hello' })]);
  expect((await h.assign(targetId, ['app@1.0.0'])).status).toBe(200);
  await waitFor('the release applied and reported', async () => {
    const target = (await api<Target>(h.url, 'GET', `/v1/targets/${targetId}`, { token: h.adminToken })).body;
    return target.observed?.phase === 'applied';
  });
}

describe('an agent while its hub is away', () => {
  it('keeps observing and reverting drift on its own interval, and journals the reports for later', async () => {
    hub = await startHub();
    dir = tempDir('flotilla-away-');
    const policy = await api(hub.url, 'PUT', '/v1/drift-policy', {
      token: hub.adminToken,
      body: { rules: defaultDriftPolicy.rules, settings: { gracePeriodSeconds: 0 } },
    });
    expect(policy.status).toBe(200);
    agent = await startAgent(hub.url, await hub.enrollmentToken(1), {
      name: 'away',
      dir: dir.path,
      observeIntervalMs: 100,
    });
    await appliedRelease(hub, agent.targetId);
    const journal = join(agent.stateDir, 'journal');
    // A journal file is named for its report's seq: `000000000007.report.json`.
    const journaled = () =>
      readdirSync(journal)
        .filter((f) => f.endsWith('.report.json'))
        .map((f) => Number.parseInt(f, 10));
    const pending = () => journaled().length;
    await waitFor('the journal to be flushed', () => pending() === 0);

    await hub.stop();
    const file = join(agent.root, manifestFileName(configMap('app', {})));
    rmSync(file);
    await waitFor('the deleted file restored while the hub is away', () => existsSync(file), 5_000);
    await waitFor('the report of the revert journaled', () => pending() > 0);
    const heldWhileAway = journaled();

    await hub.restart();
    await waitFor('the journal emptied once the hub is back', () => pending() === 0);
    // An empty journal alone would also pass if the agent had dropped the reports: the hub must hold them.
    expect(storedSeqs(hub.dataDir, agent.targetId)).toEqual(expect.arrayContaining(heldWhileAway));
  });

  it('comes back as soon as the hub does, whatever its back-off, and logs the outage once', async () => {
    hub = await startHub();
    dir = tempDir('flotilla-away-');
    const { log, lines } = capture();
    agent = await startAgent(hub.url, await hub.enrollmentToken(1), {
      name: 'back',
      dir: dir.path,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
      probeMs: 50,
      log,
    });
    await appliedRelease(hub, agent.targetId);

    await hub.stop();
    await waitFor('the agent to notice the outage', () => lines.some((l) => l['msg'] === 'hub unreachable'));
    await hub.restart();
    await hub.publish('app', '2.0.0', [configMap('app', { greeting: 'again' })]);
    expect((await hub.assign(agent.targetId, ['app@2.0.0'])).status).toBe(200);
    await waitFor(
      'the new release applied soon after the hub came back',
      () => agent!.agent.current.appliedGeneration === 2,
      3_000,
    );
    expect(lines.filter((l) => l['msg'] === 'hub unreachable')).toHaveLength(1);
    expect(lines.filter((l) => l['msg'] === 'hub reachable again')).toEqual([
      expect.objectContaining({ durationMs: expect.any(Number) }),
    ]);
    expect(lines.filter((l) => l['msg'] === 'sync pass failed')).toEqual([]);
  });

  it('logs a long outage with many failed attempts once when it starts and once when it ends', async () => {
    hub = await startHub();
    dir = tempDir('flotilla-away-');
    const { log, lines } = capture();
    agent = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'flaky', dir: dir.path, log });
    await appliedRelease(hub, agent.targetId);
    await hub.stop();
    // While the hub closes, requests on open connections may still be answered; from here on it is gone.
    const stopped = lines.length;
    await waitFor(
      'several failed attempts',
      () => lines.filter((l) => l['msg'] === 'hub still unreachable').length >= 5,
    );
    await hub.restart();
    await waitFor('the agent back', () => lines.slice(stopped).some((l) => l['msg'] === 'hub reachable again'));
    const outage = lines.slice(stopped);
    expect(lines.filter((l) => l['msg'] === 'hub unreachable').length).toBeGreaterThanOrEqual(1);
    expect(outage.filter((l) => l['msg'] === 'hub unreachable').length).toBeLessThanOrEqual(1);
    expect(outage.filter((l) => l['msg'] === 'hub reachable again')).toEqual([
      expect.objectContaining({ durationMs: expect.any(Number), failedAttempts: expect.any(Number) }),
    ]);
    expect(lines.filter((l) => l['level'] === 40 && l['msg'] !== 'hub unreachable')).toEqual([]);
  });
});
