import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Resource, Target } from '@flotilla/protocol';
import { manifestFileName } from '@flotilla/agent';
import { api, configMap, startHub, type HubFixture } from '../fixtures/hub-fixture.ts';
import { startKubeApiServer, type KubeApiServer } from '../fixtures/kube-apiserver/index.ts';
import { startAgentProcess, type RunningProcess } from '../fixtures/processes.ts';
import { tempDir } from '../fixtures/temp-dir.ts';
import { waitFor } from '../fixtures/wait-for.ts';

const releaseA: Resource[] = [
  configMap('settings', { mode: 'a' }),
  ...Array.from({ length: 20 }, (_, i) => configMap(`a-${i}`, { n: String(i) })),
];
const releaseB: Resource[] = [
  configMap('settings', { mode: 'b' }),
  ...Array.from({ length: 300 }, (_, i) => configMap(`b-${i}`, { n: String(i) })),
];

describe('an agent killed part-way through applying a release', () => {
  let hub: HubFixture;
  let dir: ReturnType<typeof tempDir>;
  let agent: RunningProcess | undefined;
  let kube: KubeApiServer | undefined;

  beforeAll(async () => {
    hub = await startHub();
    dir = tempDir('flotilla-torn-');
    await hub.publish('app', '1.0.0', releaseA);
    await hub.publish('app', '2.0.0', releaseB);
  });

  // Each test leaves its second agent running; stop it before the next starts its own, or it
  // keeps writing into a state directory the file's cleanup has already removed.
  afterEach(async () => {
    await agent?.kill();
    agent = undefined;
  });

  afterAll(async () => {
    await kube?.close();
    await hub.dispose();
    dir.remove();
  });

  async function target(id: string): Promise<Target> {
    return (await api<Target>(hub.url, 'GET', `/v1/targets/${id}`, { token: hub.adminToken })).body;
  }

  /** Assigns A, then B (the agent dies part-way), then A again while it is down. */
  async function tearAndRollBack(targetId: string): Promise<void> {
    expect((await hub.assign(targetId, ['app@1.0.0'])).status).toBe(200);
    const first = (await target(targetId)).desired.generation;
    await waitFor('release A applied', async () => (await target(targetId)).observed?.generation === first);
    expect((await hub.assign(targetId, ['app@2.0.0'])).status).toBe(200);
    expect(await agent!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await hub.assign(targetId, ['app@1.0.0'])).status).toBe(200);
  }

  it('converges on exactly the release put back while it was down, pruning what the torn apply wrote', async () => {
    const stateDir = join(dir.path, 'state');
    const root = join(dir.path, 'root');
    // 21 resources of A, then the crash after 150 in all: 129 files of B written, its settings among them.
    agent = await startAgentProcess({
      hubUrl: hub.url,
      stateDir,
      root,
      enrollToken: await hub.enrollmentToken(1),
      name: 'torn',
      env: { FLOTILLA_FAULT: 'apply:after:150' },
    });
    const { targetId } = JSON.parse(readFileSync(join(stateDir, 'enrollment.json'), 'utf8')) as { targetId: string };
    await tearAndRollBack(targetId);
    const written = readdirSync(root).filter((f) => f.startsWith('default_configmap_b-'));
    expect(written.length).toBeGreaterThan(100);
    expect(written.length).toBeLessThan(300);

    agent = await startAgentProcess({ hubUrl: hub.url, stateDir, root, name: 'torn' });
    await waitFor('the rollback applied', async () => {
      const observed = (await target(targetId)).observed;
      return observed?.generation === 3 && observed.phase === 'applied';
    });

    const files = readdirSync(root)
      .filter((f) => !f.startsWith('.'))
      .sort();
    expect(files).toEqual(releaseA.map(manifestFileName).sort());
    for (const resource of releaseA)
      expect(parse(readFileSync(join(root, manifestFileName(resource)), 'utf8'))).toEqual(resource);
  });

  it('with the kubernetes driver, deletes the objects the torn apply created', async () => {
    kube = await startKubeApiServer({ tokens: ['agent-token'] });
    kube.as('kubectl').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flotilla-system' } });
    const kubeconfig = join(dir.path, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'c',
        clusters: [{ name: 'c', cluster: { server: kube.url } }],
        users: [{ name: 'u', user: { token: 'agent-token' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const kubeArgs = {
      hubUrl: hub.url,
      stateDir: join(dir.path, 'kube-state'),
      root: '',
      driver: { kubeconfig, namespace: 'flotilla-system' },
    };
    agent = await startAgentProcess({
      ...kubeArgs,
      enrollToken: await hub.enrollmentToken(1),
      name: 'torn-kube',
      env: { FLOTILLA_FAULT: 'apply:after:150' },
    });
    const secret = kube.get({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: 'flotilla-system',
      name: 'flotilla-agent-identity',
    });
    const enrollment = JSON.parse(
      Buffer.from(String((secret?.['data'] as Record<string, string>)['enrollment.json']), 'base64').toString('utf8'),
    ) as { targetId: string };
    await tearAndRollBack(enrollment.targetId);
    const torn = kube
      .list('v1', 'ConfigMap', 'default')
      .filter((o) => String((o['metadata'] as { name: string }).name).startsWith('b-'));
    expect(torn.length).toBeGreaterThan(100);

    agent = await startAgentProcess({ ...kubeArgs, name: 'torn-kube' });
    const generation = (await target(enrollment.targetId)).desired.generation;
    await waitFor('the rollback applied', async () => {
      const observed = (await target(enrollment.targetId)).observed;
      return observed?.generation === generation && observed.phase === 'applied';
    });
    const names = kube
      .list('v1', 'ConfigMap', 'default')
      .map((o) => (o['metadata'] as { name: string }).name)
      .filter((name) => name !== 'kube-root-ca.crt')
      .sort();
    expect(names).toEqual(releaseA.map((r) => r.metadata.name).sort());
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'settings' })?.['data']).toEqual(
      {
        mode: 'a',
      },
    );
  });
});
