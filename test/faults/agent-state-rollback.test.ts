import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Target } from '@flotilla/protocol';
import { manifestFileName } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from '../fixtures/hub-fixture.ts';
import { tempDir } from '../fixtures/temp-dir.ts';
import { waitFor } from '../fixtures/wait-for.ts';

describe('an agent whose state directory goes back in time', () => {
  let hub: HubFixture;
  let dir: ReturnType<typeof tempDir>;
  let agent: AgentFixture | undefined;

  beforeAll(async () => {
    hub = await startHub();
    dir = tempDir('flotilla-rollback-');
    for (const version of ['1.0.0', '2.0.0', '3.0.0'])
      await hub.publish('app', version, [configMap('app', { version })]);
  });

  afterAll(async () => {
    await agent?.agent.stop();
    await hub.dispose();
    dir.remove();
  });

  async function target(id: string): Promise<Target> {
    return (await api<Target>(hub.url, 'GET', `/v1/targets/${id}`, { token: hub.adminToken })).body;
  }

  async function applied(id: string, version: string): Promise<Target> {
    const generation = (await target(id)).desired.generation;
    return waitFor(`${version} applied and reported`, async () => {
      const current = await target(id);
      return current.observed?.generation === generation && current.observed.phase === 'applied' && current;
    });
  }

  it('resynchronises its report numbers with the hub, flags the gap, and keeps syncing', async () => {
    const home = join(dir.path, 'edge');
    const stateDir = join(home, 'state');
    const backup = join(dir.path, 'backup');
    agent = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'edge', dir: home });
    const { targetId } = agent;
    await hub.assign(targetId, ['app@1.0.0']);
    await applied(targetId, '1.0.0');
    await agent.agent.stop();
    cpSync(stateDir, backup, { recursive: true });

    agent = await startAgent(hub.url, undefined, { name: 'edge', dir: home });
    await hub.assign(targetId, ['app@2.0.0']);
    const before = await applied(targetId, '2.0.0');
    await agent.agent.stop();

    // A backup (or a VM snapshot, or power lost before the disk caught up) puts the old state back.
    rmSync(stateDir, { recursive: true });
    cpSync(backup, stateDir, { recursive: true });
    agent = await startAgent(hub.url, undefined, { name: 'edge', dir: home });
    await hub.assign(targetId, ['app@3.0.0']);
    const after = await applied(targetId, '3.0.0');

    expect(parse(readFileSync(join(home, 'root', manifestFileName(configMap('app', {}))), 'utf8'))).toEqual(
      configMap('app', { version: '3.0.0' }),
    );
    expect(after.observed!.seq).toBeGreaterThan(before.observed!.seq);
    expect(Date.parse(after.lastSeenAt!)).toBeGreaterThan(Date.parse(before.lastSeenAt!));
    const history = await api<{ entries: { action: string; details: Record<string, unknown> }[] }>(
      hub.url,
      'GET',
      `/v1/targets/${targetId}/history?action=report.seq-resync`,
      { token: hub.adminToken },
    );
    expect(history.body.entries).toEqual([
      expect.objectContaining({
        action: 'report.seq-resync',
        details: expect.objectContaining({ after: before.observed!.seq }),
      }),
    ]);
  });
});
