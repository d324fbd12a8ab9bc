import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Target } from '@flotilla/protocol';
import { Agent, ManifestsDirDriver, manifestFileName } from '@flotilla/agent';
import { api, configMap, silent, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { flotilla } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

/**
 * 100 real agents (manifests-dir driver, in this process) and a real hub on loopback. Rings:
 * 10 agents in ring 1, 30 in ring 2 (three of which fail to apply until fixed), 60 in ring 3.
 */
const RINGS = { 1: 10, 2: 30, 3: 60 } as const;
const FAILING = 3;

interface FleetAgent {
  readonly name: string;
  readonly ring: number;
  readonly dir: string;
  readonly root: string;
  agent: Agent;
  targetId: string;
}

const APP = configMap('app', { greeting: 'hello' });
const MONITORING = configMap('monitoring', { scrape: '30s' });

describe('rollouts in waves across 100 real agents', () => {
  let hub: HubFixture;
  const fleet: FleetAgent[] = [];
  /** Names of agents whose driver fails every apply, until the test removes them. */
  const failing = new Set<string>();
  let rolloutB = '';

  function newAgent(dir: string, name: string, token: string | undefined): Agent {
    return new Agent({
      hubUrl: hub.url,
      stateDir: join(dir, 'state'),
      driver: new ManifestsDirDriver(join(dir, 'root'), '0.1.0', {
        failWith: () => (failing.has(name) ? 'no space left on device (injected by the test)' : undefined),
      }),
      log: silent,
      enrollToken: token,
      name,
      waitSeconds: 20,
      observeIntervalMs: 60_000,
      backoff: { baseMs: 20, maxMs: 200 },
      reconnectWindowMs: 200,
    });
  }

  async function startFleetAgent(name: string, ring: number, token: string): Promise<FleetAgent> {
    const dir = tempDir('flotilla-rollout-agent-').path;
    const agent = newAgent(dir, name, token);
    const { targetId } = await agent.start();
    return { name, ring, dir, root: join(dir, 'root'), agent, targetId };
  }

  async function admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return api<T>(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body }) });
  }

  async function rollout(id: string, members = 'none'): Promise<any> {
    const answer = await admin('GET', `/v1/rollouts/${id}?members=${members}&limit=1000`);
    expect(answer.status).toBe(200);
    return answer.body;
  }

  async function createRollout(body: Record<string, unknown>): Promise<string> {
    const answer = await admin('POST', '/v1/rollouts', body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body.rollout.id as string;
  }

  function waitForState(id: string, state: string, timeoutMs = 30_000): Promise<any> {
    return waitFor(
      `rollout ${id} to be ${state}`,
      async () => {
        const view = await rollout(id);
        return view.state === state && view;
      },
      timeoutMs,
      100,
    );
  }

  /** The data of the ConfigMap file the agent wrote, or undefined when there is none. */
  function written(a: { root: string }, resource = APP): Record<string, string> | undefined {
    const file = join(a.root, manifestFileName(resource));
    return existsSync(file) ? (parse(readFileSync(file, 'utf8')) as { data: Record<string, string> }).data : undefined;
  }

  async function target(id: string): Promise<Target> {
    return (await admin<Target>('GET', `/v1/targets/${id}`)).body;
  }

  beforeAll(async () => {
    hub = await startHub();
    const starts: Promise<FleetAgent>[] = [];
    for (const [ring, count] of Object.entries(RINGS)) {
      const token = await hub.enrollmentToken(count, { env: 'test', ring });
      for (let i = 0; i < count; i++) starts.push(startFleetAgent(`ring${ring}-${i}`, Number(ring), token));
    }
    fleet.push(...(await Promise.all(starts)));
    await hub.publish('app', '1.0.0', [configMap('app', { greeting: 'hello', version: '1' })]);
    await hub.publish('app', '2.0.0', [configMap('app', { greeting: 'hello', version: '2' })]);
    await hub.publish('monitoring', '1.0.0', [MONITORING]);
  });

  afterAll(async () => {
    await Promise.all(fleet.map((a) => a.agent.stop()));
    await hub?.dispose();
  });

  it('rolls two releases of different names out side by side; each target runs both', async () => {
    const app = await createRollout({ release: 'app@1.0.0', selector: 'env=test' });
    const monitoring = await createRollout({ release: 'monitoring@1.0.0', selector: 'ring=1' });
    await waitForState(app, 'completed');
    await waitForState(monitoring, 'completed');
    expect(fleet.every((a) => written(a)?.['version'] === '1')).toBe(true);
    const ring1 = fleet.filter((a) => a.ring === 1);
    expect(ring1.every((a) => written(a, MONITORING)?.['scrape'] === '30s')).toBe(true);
    expect(fleet.filter((a) => a.ring !== 1).every((a) => written(a, MONITORING) === undefined)).toBe(true);
    const record = await target(ring1[0]!.targetId);
    expect(record.desired.bundles.map((b) => `${b.name}@${b.version}`)).toEqual(['app@1.0.0', 'monitoring@1.0.0']);
  });

  it('walks four waves, pauses when ring 2 exceeds its failure budget, and refuses an overlapping rollout', async () => {
    const ring2 = fleet.filter((a) => a.ring === 2);
    for (const a of ring2.slice(0, FAILING)) failing.add(a.name);
    rolloutB = await createRollout({
      release: 'app@2.0.0',
      selector: 'env=test',
      waves: [
        { name: 'canary', percent: '1%' },
        { name: 'ring1', selector: 'ring=1' },
        { name: 'ring2', selector: { ring: '2' } },
        { name: 'rest', percent: 100 },
      ],
      failureBudget: 2,
    });
    const conflict = await admin('POST', '/v1/rollouts', { release: 'app@2.0.0', selector: 'ring=1' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('CONFLICT');
    expect(conflict.body.error.message).toContain(
      `rollout ${rolloutB} (app@2.0.0, running) already covers 10 of the targets`,
    );
    expect(conflict.body.error.details.targets.sort()).toEqual(
      fleet
        .filter((a) => a.ring === 1)
        .map((a) => a.targetId)
        .sort(),
    );

    const paused = await waitForState(rolloutB, 'paused');
    expect(paused.currentWave).toEqual({ index: 2, name: 'ring2' });
    expect(paused.reason).toMatch(/^wave ring2: 3 targets failed, more than its failure budget of 2 allows \(2\)$/);
    expect(paused.waves.map((w: any) => w.state)).toEqual(['passed', 'passed', 'paused', 'pending']);
    // Waves are cumulative: a target counts in the first wave that took it, and the 1% canary may be from any ring.
    const canary = (await rollout(rolloutB, 'all')).members.find((m: any) => m.wave === 'canary');
    const canaryRing = fleet.find((a) => a.targetId === canary.targetId)!.ring;
    expect(paused.waves.map((w: any) => w.counts.total)).toEqual([
      1,
      10 - Number(canaryRing === 1),
      30 - Number(canaryRing === 2),
      60 - Number(canaryRing === 3),
    ]);
    expect(paused.totals.failed).toBe(FAILING);
    expect(paused.waves[3].counts.planned).toBe(paused.waves[3].counts.total);
    const failures = (await rollout(rolloutB, 'problems')).members.filter((m: any) => m.state === 'failed');
    expect(failures.map((m: any) => m.name).sort()).toEqual([...failing].sort());
    expect(failures[0].reason).toMatch(/reported generation \d+ failed/);
    // Ring 3 has not been touched: still on 1.0.0, except the canary if it is one of them.
    expect(fleet.filter((a) => a.ring === 3 && written(a)?.['version'] === '2').length).toBeLessThanOrEqual(1);
    const pause = hub.hub.services.audit.query({ action: 'rollout.pause' }, { limit: 10 }).entries[0]!;
    expect(pause.actor).toEqual({ kind: 'system', id: 'rollout-controller' });
    expect(pause.subjects.sort()).toEqual(
      ring2
        .slice(0, FAILING)
        .map((a) => a.targetId)
        .sort(),
    );
  });

  it('after the fix, resumes; a target enrolled and one relabelled mid-rollout join; a hub restart loses nothing', async () => {
    // One ring-3 agent is offline, so the last wave waits for it across the restart.
    const members = (await rollout(rolloutB, 'all')).members as { targetId: string; wave: string }[];
    const offline = fleet.find((a) => a.ring === 3 && members.find((m) => m.targetId === a.targetId)?.wave === 'rest')!;
    await offline.agent.stop();
    const outsiderToken = await hub.enrollmentToken(1, { env: 'lab', ring: '3' });
    const outsider = await startFleetAgent('outsider', 3, outsiderToken);
    fleet.push(outsider);

    failing.clear();
    await waitFor(
      'the fixed agents to report healthy',
      async () => (await rollout(rolloutB)).waves[2].counts.failed === 0,
      20_000,
      100,
    );
    const resumed = await admin('POST', `/v1/rollouts/${rolloutB}/resume`, { reason: 'disks cleaned' });
    expect(resumed.status).toBe(200);
    await waitFor(
      'the rest wave to start',
      async () => (await rollout(rolloutB)).currentWave?.name === 'rest',
      20_000,
      100,
    );

    // Enrolled after the rollout started, in a wave already reached: it gets 2.0.0.
    const lateToken = await hub.enrollmentToken(1, { env: 'test', ring: '2' });
    const late = await startFleetAgent('late', 2, lateToken);
    fleet.push(late);
    // Relabelled into the selector: it joins too.
    expect((await admin('PATCH', `/v1/targets/${outsider.targetId}/labels`, { set: { env: 'test' } })).status).toBe(
      200,
    );
    await waitFor(
      'the late and relabelled targets to apply 2.0.0',
      () => written(late)?.['version'] === '2' && written(outsider)?.['version'] === '2',
      20_000,
      100,
    );

    const waiting = await rollout(rolloutB);
    expect(waiting.state).toBe('running');
    expect(waiting.waves[3].counts.pending).toBeGreaterThanOrEqual(1);

    await hub.restart();
    const after = await rollout(rolloutB);
    expect(after).toMatchObject({ state: 'running', currentWave: { name: 'rest' } });
    offline.agent = newAgent(offline.dir, offline.name, undefined);
    await offline.agent.start();
    const completed = await waitForState(rolloutB, 'completed');
    expect(completed.totals).toMatchObject({
      failed: 0,
      pending: 0,
      blocked: 0,
      healthy: RINGS[1] + RINGS[2] + RINGS[3] + 2,
    });
    await waitFor('every agent to write 2.0.0', () => fleet.every((a) => written(a)?.['version'] === '2'), 20_000, 100);

    // No step lost, none done twice: each wave started once, each target's envelope bumped once.
    const starts = hub.hub.services.audit
      .query({ action: 'rollout.wave.start' }, { limit: 100, order: 'asc' })
      .entries.filter((e) => e.details['rollout'] === rolloutB);
    expect(starts.map((e) => e.details['waveName'])).toEqual(['canary', 'ring1', 'ring2', 'rest']);
    const joins = hub.hub.services.audit
      .query({ action: 'rollout.member.join' }, { limit: 100 })
      .entries.filter((e) => e.details['rollout'] === rolloutB);
    expect(joins.flatMap((e) => e.subjects).sort()).toEqual([late.targetId, outsider.targetId].sort());
    const records = await Promise.all(fleet.map((a) => target(a.targetId)));
    const expected = (a: FleetAgent): number => (a === late || a === outsider ? 1 : a.ring === 1 ? 3 : 2);
    expect(records.map((r) => r.desired.generation)).toEqual(fleet.map(expected));
  });

  it('rolls back: updated members return to 1.0.0, those that had no app lose it, monitoring stays', async () => {
    const answer = await admin('POST', `/v1/rollouts/${rolloutB}/rollback`, { reason: 'e2e' });
    expect(answer.status).toBe(200);
    expect(answer.body.state).toBe('rolled-back');
    const late = fleet.find((a) => a.name === 'late')!;
    const outsider = fleet.find((a) => a.name === 'outsider')!;
    const before = fleet.filter((a) => a !== late && a !== outsider);
    await waitFor(
      'the members to be back on 1.0.0',
      () =>
        before.every((a) => written(a)?.['version'] === '1') &&
        written(late) === undefined &&
        written(outsider) === undefined,
      20_000,
      100,
    );
    expect(fleet.filter((a) => a.ring === 1).every((a) => written(a, MONITORING) !== undefined)).toBe(true);
    const view = await waitFor(
      'the rollback to be reported',
      async () => {
        const v = await rollout(rolloutB);
        return v.totals.reverted === fleet.length && v;
      },
      20_000,
      100,
    );
    expect(view.totals.reverting).toBe(0);
    const entry = hub.hub.services.audit.query({ action: 'rollout.rollback' }, { limit: 1 }).entries[0]!;
    expect(entry.actor.kind).toBe('user');
    expect(entry.details).toMatchObject({ rollout: rolloutB, reverted: fleet.length, skipped: 0 });
  });

  it('shows status and lists rollouts through the CLI, as plain text off a terminal', async () => {
    const env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
    const [status, list] = await Promise.all([
      flotilla(['rollout', 'status', rolloutB, '--watch', '--interval', '1s'], env),
      flotilla(['rollout', 'ls'], env),
    ]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`rollout ${rolloutB}  app@2.0.0  rolled-back  wave 4/4 rest  selector env=test`);
    expect(status.stdout).toMatch(/ring2 passed reverted (\d+)\/\1 /);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+RELEASE\s+STATE\s+WAVE/);
    expect(list.stdout).toContain(rolloutB);
  });
});
