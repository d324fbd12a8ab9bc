import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { SignedBundle, type Resource, type Target } from '@flotilla/protocol';
import { defaultDriftPolicy, driftItemId } from '@flotilla/protocol/drift';
import { Agent, KubernetesDriver, manifestFileName, staticToken } from '@flotilla/agent';
import {
  api,
  configMap,
  silent,
  startAgent,
  startHub,
  type AgentFixture,
  type HubFixture,
} from './fixtures/hub-fixture.ts';
import { flotilla } from './fixtures/cli.ts';
import { startKubeApiServer, type KubeApiServer } from './fixtures/kube-apiserver/index.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';
import {
  shopNamespace,
  shopSettings as settings,
  shopWeb as web,
  objectRef as ref,
  SHOP_IMAGE as IMAGE,
} from './fixtures/shop-bundle.ts';

const WAIT_MS = 10_000;
const EVIL = 'evil.example.com/miner:latest';
const IMAGE_PATH = 'spec.template.spec.containers[name=app].image';

interface DriftItem {
  id: string;
  resourceKey: string;
  path: string;
  change: string;
  class: string;
  action: string;
  actor: { manager: string; subresource?: string };
  ruleId: string;
  intentional?: true;
  holdId?: string;
}

let hub: HubFixture;
let kube: KubeApiServer;
let dir: { path: string; remove: () => void };
let cluster: Agent;
let clusterId: string;
let edge: AgentFixture;
let env: Record<string, string>;

async function drift(targetId: string): Promise<DriftItem[]> {
  return (await api<{ items: DriftItem[] }>(hub.url, 'GET', `/v1/targets/${targetId}/drift`, { token: hub.adminToken }))
    .body.items;
}

/** Waits for a drift item at this resource and path to be reported as `expected` says. */
async function driftItem(
  targetId: string,
  resourceKey: string,
  path: string,
  expected: Partial<DriftItem>,
): Promise<DriftItem> {
  return waitFor(
    `${resourceKey} ${path} reported as ${JSON.stringify(expected)}`,
    async () => {
      const found = (await drift(targetId)).find((item) => item.resourceKey === resourceKey && item.path === path);
      return (
        found !== undefined &&
        Object.entries(expected).every(([k, v]) => JSON.stringify(found[k as keyof DriftItem]) === JSON.stringify(v)) &&
        found
      );
    },
    WAIT_MS,
  );
}

/** The audit history of drift for a target: what appeared in each change, oldest first. */
async function driftHistory(
  targetId: string,
): Promise<{ id: string; class: string; action: string; path: string; change: string; holdId?: string }[]> {
  const answer = await api<{ entries: { details: { appeared: never[] } }[] }>(
    hub.url,
    'GET',
    `/v1/audit?action=drift.observed&target=${targetId}&order=asc&limit=500`,
    { token: hub.adminToken },
  );
  return answer.body.entries.flatMap((entry) => entry.details.appeared);
}

function observeCount(resource: Resource): number {
  const path = `/apis/apps/v1/namespaces/${resource.metadata.namespace}/deployments/${resource.metadata.name}`;
  return kube.requests.filter((r) => r.method === 'GET' && r.path === path).length;
}

/** Lets the agent look at the cluster a few more times, so that "not reverted" means something. */
async function passes(count: number): Promise<void> {
  const seen = observeCount(web);
  await waitFor(`${count} more observations`, () => observeCount(web) >= seen + count, WAIT_MS);
}

function liveImage(): string {
  const spec = kube.get(ref(web))!['spec'] as { template: { spec: { containers: { image: string }[] } } };
  return spec.template.spec.containers[0]!.image;
}

beforeAll(async () => {
  dir = tempDir('flotilla-drift-');
  hub = await startHub();
  env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
  // The default rules, with a grace period of one second after Flotilla's own writes, so the
  // test need not wait two minutes for a change to count.
  const policy = await api(hub.url, 'PUT', '/v1/drift-policy', {
    token: hub.adminToken,
    body: { rules: defaultDriftPolicy.rules, settings: { gracePeriodSeconds: 1 } },
  });
  expect(policy.status, JSON.stringify(policy.body)).toBe(200);
  kube = await startKubeApiServer({ tokens: ['cluster-token'] });
  const token = await hub.enrollmentToken(2, { fleet: 'drift' });
  cluster = new Agent({
    hubUrl: hub.url,
    stateDir: join(dir.path, 'cluster'),
    driver: (enrollment) =>
      new KubernetesDriver({
        connection: { server: kube.url, token: staticToken('cluster-token') },
        owner: enrollment.targetId,
      }),
    log: silent,
    enrollToken: token,
    name: 'shop-cluster',
    waitSeconds: 5,
    observeIntervalMs: 150,
    backoff: { baseMs: 20, maxMs: 200 },
  });
  clusterId = (await cluster.start()).targetId;
  edge = await startAgent(hub.url, token, { name: 'edge-1', dir: join(dir.path, 'edge'), observeIntervalMs: 150 });
});

afterAll(async () => {
  await cluster?.stop();
  await edge?.agent.stop();
  await kube?.close();
  await hub?.dispose();
  dir?.remove();
});

describe('drift on a Kubernetes cluster, end to end', () => {
  it('applies a release and reports no drift', async () => {
    await hub.publish('shop', '1.0.0', [shopNamespace, settings, web]);
    expect((await hub.assign(clusterId, ['shop@1.0.0'])).status).toBe(200);
    await waitFor(
      'the release to be applied and reported',
      async () => {
        const target = (await api<Target>(hub.url, 'GET', `/v1/targets/${clusterId}`, { token: hub.adminToken })).body;
        return target.observed?.phase === 'applied' && target.drift !== undefined && target;
      },
      WAIT_MS,
    );
    expect(await drift(clusterId)).toEqual([]);
  });

  it('accepts an autoscaler changing replicas, and leaves them', async () => {
    kube.as('kube-controller-manager').scale(ref(web), 5);
    const item = await driftItem(clusterId, 'Deployment.apps/shop/web', 'spec.replicas', { class: 'acceptable' });
    expect(item).toMatchObject({
      action: 'accept',
      ruleId: 'autoscaler-replicas',
      actor: { manager: 'kube-controller-manager', subresource: 'scale' },
    });
    await passes(2);
    expect((kube.get(ref(web))!['spec'] as { replicas: number }).replicas).toBe(5);
  });

  it('keeps a kubectl edit of a ConfigMap, reported as suspicious', async () => {
    kube.as('kubectl-edit').mergePatch(ref(settings), { data: { mode: 'slow' } });
    const item = await driftItem(clusterId, 'ConfigMap/shop/settings', 'data.mode', { class: 'suspicious' });
    expect(item).toMatchObject({ action: 'alert', ruleId: 'human-change', actor: { manager: 'kubectl-edit' } });
    await passes(2);
    expect((kube.get(ref(settings))!['data'] as { mode: string }).mode).toBe('slow');
  });

  it('reverts an image swapped to an unknown registry, and keeps the kept drift around it', async () => {
    kube
      .as('kubectl-set')
      .strategicMergePatch(ref(web), { spec: { template: { spec: { containers: [{ name: 'app', image: EVIL }] } } } });
    await waitFor('the image to be reverted', () => liveImage() === IMAGE, WAIT_MS);
    const history = await waitFor(
      'the revert in the drift history',
      async () => {
        const appeared = await driftHistory(clusterId);
        return appeared.some((item) => item.path === IMAGE_PATH) && appeared;
      },
      WAIT_MS,
    );
    expect(history.find((item) => item.path === IMAGE_PATH)).toMatchObject({ class: 'dangerous', action: 'revert' });
    // The revert took the image back, and nothing the policy keeps.
    expect((kube.get(ref(web))!['spec'] as { replicas: number }).replicas).toBe(5);
    expect((kube.get(ref(settings))!['data'] as { mode: string }).mode).toBe('slow');
    await waitFor(
      'the image drift to clear',
      async () => !(await drift(clusterId)).some((item) => item.path === IMAGE_PATH),
      WAIT_MS,
    );
  });

  it('takes away privilege someone added to a container', async () => {
    kube.as('kubectl-edit').strategicMergePatch(ref(web), {
      spec: { template: { spec: { containers: [{ name: 'app', securityContext: { privileged: true } }] } } },
    });
    const container = (): Record<string, unknown> =>
      (kube.get(ref(web))!['spec'] as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec
        .containers[0]!;
    await waitFor(
      'the privileged flag to be removed',
      () => (container()['securityContext'] as { privileged?: boolean } | undefined)?.privileged === undefined,
      WAIT_MS,
    );
    const appeared = await waitFor(
      'the revert in the drift history',
      async () => (await driftHistory(clusterId)).find((item) => item.path.endsWith('securityContext.privileged')),
      WAIT_MS,
    );
    expect(appeared).toMatchObject({ change: 'added', class: 'dangerous', action: 'revert' });
    expect(container()['image']).toBe(IMAGE);
    expect((kube.get(ref(web))!['spec'] as { replicas: number }).replicas).toBe(5);
  });

  it('keeps the same swap under an open incident, reported as intentional with the incident id', async () => {
    const opened = await flotilla(
      [
        'incident',
        'open',
        'INC-42',
        '--selector',
        'fleet=drift, name=shop-cluster',
        '--reason',
        'hotfix during the payments outage',
      ],
      env,
    );
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stdout).toMatch(/INC-42 open .* 1 target/);
    await waitFor(
      'the agent to apply the envelope with the hold',
      async () => {
        const target = (await api<Target>(hub.url, 'GET', `/v1/targets/${clusterId}`, { token: hub.adminToken })).body;
        return target.observed?.generation === target.desired.generation && target;
      },
      WAIT_MS,
    );

    kube
      .as('kubectl-set')
      .strategicMergePatch(ref(web), { spec: { template: { spec: { containers: [{ name: 'app', image: EVIL }] } } } });
    const item = await driftItem(clusterId, 'Deployment.apps/shop/web', IMAGE_PATH, { intentional: true });
    expect(item).toMatchObject({ class: 'dangerous', action: 'alert', holdId: 'INC-42', ruleId: 'image-not-allowed' });
    await passes(3);
    expect(liveImage()).toBe(EVIL);
    const listed = await flotilla(['drift', 'ls', '-q', 'drift=dangerous', '--class', 'dangerous', '-o', 'json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).items.map((i: DriftItem) => [i.id, i.holdId])).toEqual([
      [driftItemId('Deployment.apps/shop/web', IMAGE_PATH), 'INC-42'],
    ]);
  });

  it('adopts the drift into a release that matches reality, and the drift clears', async () => {
    const keyFile = join(dir.path, 'release-key.json');
    writeFileSync(keyFile, JSON.stringify(hub.releaseKey), { mode: 0o600 });
    const items = (await drift(clusterId)).map((item) => item.id);
    expect(items).toHaveLength(3);
    const adopted = await flotilla(
      ['drift', 'adopt', 'shop-cluster', ...items, '--key', keyFile, '--version', '1.0.1'],
      env,
    );
    expect(adopted.code, adopted.stderr).toBe(0);
    expect(adopted.stdout).toMatch(/adopted 3 item\(s\) into shop@1.0.1 \(was 1.0.0\)/);

    const target = await waitFor(
      'the adopted release to be applied with no drift left',
      async () => {
        const t = (await api<Target>(hub.url, 'GET', `/v1/targets/${clusterId}`, { token: hub.adminToken })).body;
        return (
          t.observed?.bundles[0]?.version === '1.0.1' &&
          t.observed.phase === 'applied' &&
          t.drift?.seq !== undefined &&
          (await drift(clusterId)).length === 0 &&
          t
        );
      },
      WAIT_MS,
    );
    expect(target.drift?.counts).toEqual({ acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 });
    const bundle = SignedBundle.parse(
      (await api(hub.url, 'GET', `/v1/bundles/${target.desired.bundles[0]!.digest}`, { token: hub.adminToken })).body,
    ).bundle;
    const deployment = bundle.resources.find((r) => r.kind === 'Deployment') as Resource & {
      spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
    };
    expect(deployment.spec.replicas).toBe(5);
    expect(deployment.spec.template.spec.containers[0]!.image).toBe(EVIL);
    expect(bundle.resources.find((r) => r.kind === 'ConfigMap')).toMatchObject({ data: { mode: 'slow' } });
    expect(liveImage()).toBe(EVIL);
  });

  it('reverts a kept change on request once the incident is closed', async () => {
    const closed = await api(hub.url, 'POST', '/v1/incidents/INC-42/close', {
      token: hub.adminToken,
      body: { reason: 'resolved' },
    });
    expect(closed.status).toBe(200);
    kube.as('kubectl-edit').mergePatch(ref(settings), { data: { mode: 'turbo' } });
    const item = await driftItem(clusterId, 'ConfigMap/shop/settings', 'data.mode', { class: 'suspicious' });
    const reverted = await api(hub.url, 'POST', `/v1/targets/${clusterId}/drift/revert`, {
      token: hub.adminToken,
      body: { items: [item.id] },
    });
    expect(reverted.status, JSON.stringify(reverted.body)).toBe(200);
    await waitFor(
      'the ConfigMap back at the adopted value',
      () => (kube.get(ref(settings))!['data'] as { mode: string }).mode === 'slow',
      WAIT_MS,
    );
    await waitFor('the drift to clear', async () => (await drift(clusterId)).length === 0, WAIT_MS);
  });
});

describe('drift on a manifests directory, end to end', () => {
  const app = configMap('app', { greeting: 'hello' });
  const other = configMap('other', { keep: 'me' });
  const fileOf = (resource: Resource): string => join(edge.root, manifestFileName(resource));

  it('keeps a hand-edited file, reported as suspicious', async () => {
    await hub.publish('edge', '1.0.0', [app, other]);
    expect((await hub.assign(edge.targetId, ['edge@1.0.0'])).status).toBe(200);
    await waitFor(
      'the files to be written',
      () => existsSync(fileOf(other)) && edge.agent.current.appliedGeneration === 1,
      WAIT_MS,
    );
    writeFileSync(fileOf(app), stringify({ ...app, data: { greeting: 'hi' } }));
    const item = await driftItem(edge.targetId, 'ConfigMap/default/app', 'data.greeting', { class: 'suspicious' });
    expect(item).toMatchObject({ action: 'alert', actor: { manager: 'unknown' }, ruleId: 'unknown-actor' });
    expect(parse(readFileSync(fileOf(app), 'utf8')).data).toEqual({ greeting: 'hi' });
  });

  it('restores a deleted file as dangerous drift, and keeps the hand edit beside it', async () => {
    rmSync(fileOf(other));
    await waitFor('the deleted file to be restored', () => existsSync(fileOf(other)), WAIT_MS);
    expect(parse(readFileSync(fileOf(other), 'utf8'))).toEqual(other);
    const deleted = await waitFor(
      'the restore in the drift history',
      async () => (await driftHistory(edge.targetId)).find((item) => item.change === 'deleted-resource'),
      WAIT_MS,
    );
    expect(deleted).toMatchObject({ class: 'dangerous', action: 'revert' });
    await waitFor(
      'the deletion to clear from the current drift',
      async () => (await drift(edge.targetId)).every((item) => item.change !== 'deleted-resource'),
      WAIT_MS,
    );
    expect(parse(readFileSync(fileOf(app), 'utf8')).data).toEqual({ greeting: 'hi' });
  });

  it('selects targets by drift in the fleet query', async () => {
    const answer = await api<{ items: Target[] }>(
      hub.url,
      'GET',
      `/v1/targets?q=${encodeURIComponent('drift=suspicious')}`,
      { token: hub.adminToken },
    );
    expect(answer.body.items.map((t) => t.name)).toEqual(['edge-1']);
  });
});
