import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Target } from '@flotilla/protocol';
import type { EnrollmentToken } from '@flotilla/protocol/api';
import { buildRuntime, ElectedAgent, IDENTITY_SECRET_TYPE, runConfig } from '@flotilla/agent';
import { api, silent, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import {
  startKubeApiServer,
  type KubeApiServer,
  type NodeSpec,
  type ObjectRef,
} from './fixtures/kube-apiserver/index.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';
import { shopNamespace, shopSettings as settings, shopWeb as web, objectRef as ref } from './fixtures/shop-bundle.ts';

const NAMESPACE = 'flotilla-system';
const IDENTITY: ObjectRef = { apiVersion: 'v1', kind: 'Secret', namespace: NAMESPACE, name: 'flotilla-agent-identity' };
const LEASE: ObjectRef = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  namespace: NAMESPACE,
  name: 'flotilla-agent',
};
const WAIT_MS = 10_000;

interface ClusterSpec {
  readonly name: string;
  readonly version: string;
  readonly nodes: NodeSpec[];
  readonly substrate: string;
}

const CLUSTERS: ClusterSpec[] = [
  {
    name: 'eu-aws',
    version: 'v1.31.2',
    substrate: 'aws',
    nodes: [
      {
        name: 'ip-10-0-1-5',
        providerID: 'aws:///eu-west-1a/i-0abc',
        kubeletVersion: 'v1.31.2',
        labels: { 'topology.kubernetes.io/region': 'eu-west-1' },
      },
      {
        name: 'ip-10-0-2-7',
        providerID: 'aws:///eu-west-1b/i-0def',
        kubeletVersion: 'v1.30.4',
        labels: { 'topology.kubernetes.io/region': 'eu-west-1' },
      },
      {
        name: 'ip-10-0-3-9',
        providerID: 'aws:///eu-west-1c/i-0fed',
        kubeletVersion: 'v1.31.2',
        labels: { 'topology.kubernetes.io/region': 'eu-west-1' },
      },
    ],
  },
  {
    name: 'us-gke',
    version: 'v1.30.6',
    substrate: 'gce',
    nodes: [
      { name: 'gke-pool-1', providerID: 'gce://shop-prod/us-central1-a/gke-pool-1', kubeletVersion: 'v1.30.6' },
      { name: 'gke-pool-2', providerID: 'gce://shop-prod/us-central1-b/gke-pool-2', kubeletVersion: 'v1.30.6' },
    ],
  },
  {
    name: 'store-42',
    version: 'v1.29.9+k3s1',
    substrate: 'on-prem',
    nodes: [{ name: 'store-42', providerID: 'k3s://store-42', kubeletVersion: 'v1.29.9+k3s1' }],
  },
];

interface Cluster {
  readonly spec: ClusterSpec;
  readonly kube: KubeApiServer;
  targetId: string | undefined;
}

interface Pod {
  readonly cluster: Cluster;
  readonly name: string;
  readonly node: string;
  readonly runtime: ElectedAgent;
  readonly token: string;
  stopped: boolean;
}

let hub: HubFixture;
let enrollToken: string;
let dir: { path: string; remove: () => void };
const clusters: Cluster[] = [];
const pods: Pod[] = [];

/** Starts an agent pod as the DaemonSet runs it: `flotilla-agent run --driver kubernetes`, here with a kubeconfig and a short lease. */
async function startPod(cluster: Cluster, name: string, node: string): Promise<Pod> {
  const token = `token-${name}`;
  const kubeconfig = join(dir.path, `${name}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': cluster.spec.name,
      clusters: [{ name: cluster.spec.name, cluster: { server: cluster.kube.url } }],
      users: [{ name, user: { token } }],
      contexts: [
        { name: cluster.spec.name, context: { cluster: cluster.spec.name, user: name, namespace: 'default' } },
      ],
    }),
  );
  const config = runConfig(
    {
      hub: hub.url,
      enrollToken,
      driver: 'kubernetes',
      kubeconfig,
      stateDir: join(dir.path, name),
      namespace: NAMESPACE,
      podName: name,
      nodeName: node,
      name: cluster.spec.name,
      leaseSeconds: '2',
      waitSeconds: '5',
      observeSeconds: '1',
      logLevel: 'silent',
    },
    {},
  );
  const runtime = buildRuntime(config, { env: {}, log: silent, agent: { backoff: { baseMs: 20, maxMs: 200 } } });
  if (!(runtime instanceof ElectedAgent)) throw new Error('the kubernetes driver should run behind leader election');
  await runtime.start();
  const pod: Pod = { cluster, name, node, runtime, token, stopped: false };
  pods.push(pod);
  return pod;
}

async function stopPod(pod: Pod): Promise<void> {
  if (pod.stopped) return;
  pod.stopped = true;
  await pod.runtime.stop();
}

function leaderOf(cluster: Cluster): Pod | undefined {
  const leading = pods.filter((p) => p.cluster === cluster && !p.stopped && p.runtime.current.role === 'leader');
  return leading.length === 1 ? leading[0] : undefined;
}

async function target(id: string): Promise<Target> {
  return (await api<Target>(hub.url, 'GET', `/v1/targets/${id}`, { token: hub.adminToken })).body;
}

async function allTargets(): Promise<Target[]> {
  return (await api<{ items: Target[] }>(hub.url, 'GET', '/v1/targets?limit=100', { token: hub.adminToken })).body
    .items;
}

function secretData(kube: KubeApiServer): Record<string, string> {
  const data = (kube.get(IDENTITY)?.['data'] ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

describe('the agent with the kubernetes driver, as a DaemonSet on three clusters', () => {
  beforeAll(async () => {
    dir = tempDir('flotilla-k8s-agent-');
    hub = await startHub();
    enrollToken = await hub.enrollmentToken(3, { fleet: 'k8s' });
    for (const spec of CLUSTERS) {
      const tokens =
        spec.name === 'eu-aws' ? ['token-eu-aws-0', 'token-eu-aws-1', 'token-eu-aws-0b'] : [`token-${spec.name}-0`];
      const kube = await startKubeApiServer({ tokens, version: spec.version, nodes: spec.nodes });
      // The DaemonSet's namespace, as `flotilla install agent` creates it.
      kube.as('kubectl').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
      clusters.push({ spec, kube, targetId: undefined });
    }
    // Two pods on eu-aws (two nodes of the DaemonSet); one on each of the others.
    const [aws, gke, store] = clusters as [Cluster, Cluster, Cluster];
    await Promise.all([
      startPod(aws, 'eu-aws-0', 'ip-10-0-1-5'),
      startPod(aws, 'eu-aws-1', 'ip-10-0-2-7'),
      startPod(gke, 'us-gke-0', 'gke-pool-1'),
      startPod(store, 'store-42-0', 'store-42'),
    ]);
  });

  afterAll(async () => {
    await Promise.all(pods.map(stopPod));
    await Promise.all(clusters.map((c) => c.kube.close()));
    await hub?.dispose();
    dir?.remove();
  });

  it('elects one leader per cluster, which enrolls the cluster once and keeps its identity in a Secret', async () => {
    for (const cluster of clusters) {
      const leader = await waitFor(
        `a leader on ${cluster.spec.name} to enroll`,
        () => {
          const pod = leaderOf(cluster);
          return pod?.runtime.current.agent?.targetId !== undefined && pod;
        },
        WAIT_MS,
      );
      cluster.targetId = leader.runtime.current.agent!.targetId;
      expect(cluster.kube.get(LEASE)?.['spec']).toMatchObject({ holderIdentity: leader.name, leaseDurationSeconds: 2 });

      const secret = cluster.kube.get(IDENTITY)!;
      expect(secret['type']).toBe(IDENTITY_SECRET_TYPE);
      expect((secret['metadata'] as { annotations: Record<string, string> }).annotations['flotilla.io/target']).toBe(
        cluster.targetId,
      );
      const data = secretData(cluster.kube);
      expect(Object.keys(data)).toEqual(
        expect.arrayContaining(['agent-key.json', 'enrollment.json', 'trust-root.json']),
      );
      expect(JSON.parse(data['enrollment.json']!)).toMatchObject({
        targetId: cluster.targetId,
        name: cluster.spec.name,
      });
    }

    // The second pod on eu-aws stands by: it sees the leader, is ready, and has no sync loop.
    const aws = clusters[0]!;
    const standby = pods.find((p) => p.cluster === aws && p !== leaderOf(aws))!;
    await waitFor(
      'the standby to see the leader',
      () => standby.runtime.current.leader === leaderOf(aws)!.name,
      WAIT_MS,
    );
    expect(standby.runtime.current).toMatchObject({
      role: 'standby',
      leader: leaderOf(aws)!.name,
      agent: undefined,
      terms: 0,
    });
    expect(standby.runtime.ready()).toBe(true);
    expect(standby.runtime.status()).toMatchObject({
      role: 'standby',
      pod: standby.name,
      node: standby.node,
      leader: leaderOf(aws)!.name,
    });

    const targets = await allTargets();
    expect(targets.map((t) => t.name).sort()).toEqual(['eu-aws', 'store-42', 'us-gke']);
    expect(new Set(targets.map((t) => t.id))).toEqual(new Set(clusters.map((c) => c.targetId)));
  });

  it("converges every cluster on a release, and the hub holds reports with the clusters' facts", async () => {
    await hub.publish('shop', '1.0.0', [shopNamespace, settings, web]);
    for (const cluster of clusters) expect((await hub.assign(cluster.targetId!, ['shop@1.0.0'])).status).toBe(200);

    for (const cluster of clusters) {
      const reported = await waitFor(
        `${cluster.spec.name} to report generation 1 applied and healthy`,
        async () => {
          const t = await target(cluster.targetId!);
          return t.observed?.generation === 1 && t.observed.phase === 'applied' && t.observed.health === 'healthy' && t;
        },
        WAIT_MS,
      );
      for (const resource of [shopNamespace, settings, web]) {
        const live = cluster.kube.get(ref(resource));
        expect(live, `${resource.kind} ${resource.metadata.name} on ${cluster.spec.name}`).toBeDefined();
        expect((live!['metadata'] as { labels: Record<string, string> }).labels).toMatchObject({
          'app.kubernetes.io/managed-by': 'flotilla',
          'flotilla.io/target': cluster.targetId,
        });
      }
      expect(reported.facts).toMatchObject({
        driver: 'kubernetes',
        substrate: cluster.spec.substrate,
        kubernetesVersion: cluster.spec.version,
        nodeCount: cluster.spec.nodes.length,
        kubeletVersions: [...cluster.spec.nodes]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((n) => n.kubeletVersion),
        agentPod: leaderOf(cluster)!.name,
      });
    }
    expect((await target(clusters[0]!.targetId!)).facts['regions']).toEqual(['eu-west-1']);
  });

  it('fails over to the standby when the leader stops: same target, no new enrollment, and it prunes', async () => {
    const aws = clusters[0]!;
    const first = leaderOf(aws)!;
    const second = pods.find((p) => p.cluster === aws && p !== first)!;
    const keyBefore = JSON.parse(secretData(aws.kube)['agent-key.json']!).publicKey as string;
    const seqBefore = (await target(aws.targetId!)).observed!.seq;

    // A graceful stop (a rolling update, a drained node) releases the Lease at once.
    await stopPod(first);
    const taken = await waitFor(
      'the standby to lead and start syncing',
      () => second.runtime.current.agent?.targetId !== undefined && second.runtime.current,
      WAIT_MS,
    );
    expect(taken).toMatchObject({ role: 'leader', terms: 1, agent: { targetId: aws.targetId } });
    expect(aws.kube.get(LEASE)?.['spec']).toMatchObject({ holderIdentity: second.name, leaseTransitions: 1 });

    // One key pair, one target per cluster; the token was spent three times, once per cluster.
    expect(JSON.parse(secretData(aws.kube)['agent-key.json']!).publicKey).toBe(keyBefore);
    expect(await allTargets()).toHaveLength(3);
    const tokens = (
      await api<{ items: EnrollmentToken[] }>(hub.url, 'GET', '/v1/enrollment-tokens', { token: hub.adminToken })
    ).body.items;
    expect(tokens.map((t) => t.uses)).toEqual([3]);

    // The new leader continues the report numbers above the old leader's reservation.
    const afterTakeover = await waitFor(
      'a report from the new leader',
      async () => {
        const t = await target(aws.targetId!);
        return t.facts['agentPod'] === second.name && t;
      },
      WAIT_MS,
    );
    expect(afterTakeover.observed!.seq).toBeGreaterThan(seqBefore);

    // A release without the ConfigMap: the new leader prunes what the old one applied.
    await hub.publish('shop', '1.1.0', [shopNamespace, web]);
    await hub.assign(aws.targetId!, ['shop@1.1.0']);
    await waitFor(
      'the ConfigMap to be pruned by the new leader',
      () => aws.kube.get(ref(settings)) === undefined,
      WAIT_MS,
    );
    expect(aws.kube.get(ref(web))).toBeDefined();
    const pruned = await waitFor(
      "the hub to hold the new leader's report of generation 2",
      async () => {
        const t = await target(aws.targetId!);
        return t.observed?.generation === 2 && t.observed.phase === 'applied' && t;
      },
      WAIT_MS,
    );
    expect(pruned.observed!.bundles.map((b) => b.version)).toEqual(['1.1.0']);
    // The other clusters were not touched.
    expect(clusters[1]!.kube.get(ref(settings))).toBeDefined();
  });

  it('takes over when the leader is cut off from the API server and its Lease expires', async () => {
    const aws = clusters[0]!;
    const leader = leaderOf(aws)!;
    // The pod stopped earlier comes back (the DaemonSet recreated it) and stands by.
    const back = await startPod(aws, 'eu-aws-0b', 'ip-10-0-1-5');
    await waitFor('the new pod to see the leader', () => back.runtime.current.leader === leader.name, WAIT_MS);
    expect(back.runtime.current.role).toBe('standby');

    // The leader loses the API server (its token no longer works): it cannot renew, steps down
    // after the renew deadline, and the standby takes over once the lease has expired.
    aws.kube.setTokens([back.token]);
    await waitFor('the cut-off leader to step down', () => leader.runtime.current.role === 'standby', WAIT_MS);
    await waitFor(
      'the standby to lead with the same identity',
      () => back.runtime.current.agent?.targetId === aws.targetId,
      WAIT_MS,
    );
    await waitFor(
      'a report from the pod that took over',
      async () => (await target(aws.targetId!)).facts['agentPod'] === back.name,
      WAIT_MS,
    );
    expect(aws.kube.get(LEASE)?.['spec']).toMatchObject({ holderIdentity: back.name, leaseTransitions: 2 });
    expect(await allTargets()).toHaveLength(3);
  });
});
