import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFlotillaError, type Resource } from '@flotilla/protocol';
import {
  FileTokenSource,
  fileInventory,
  inClusterConnection,
  kubeconfigConnection,
  KubernetesDriver,
  staticToken,
  substrateOf,
  type ClusterConnection,
} from '@flotilla/agent';
import {
  fixtureTls,
  startKubeApiServer,
  type JsonObject,
  type KubeApiServer,
  type ObjectRef,
} from './fixtures/kube-apiserver/index.ts';
import { shopNamespace as namespace, shopSettings as settings, shopWeb as web } from './fixtures/shop-bundle.ts';

const TOKEN = 'driver-token';

const widgetCrd: Resource = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};
const widget: Resource = {
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name: 'w1', namespace: 'shop' },
  spec: { size: 3 },
};

// Listed in an order that would fail if applied as given: the custom resource before its CRD,
// everything before its namespace.
const bundle = [widget, web, settings, widgetCrd, namespace];

const ref = (resource: Resource): ObjectRef => ({
  apiVersion: resource.apiVersion,
  kind: resource.kind,
  name: resource.metadata.name,
  ...(resource.metadata.namespace === undefined ? {} : { namespace: resource.metadata.namespace }),
});

let kube: KubeApiServer;
let driver: KubernetesDriver;
let temp: string;

function tokenConnection(): ClusterConnection {
  return { server: kube.url, token: staticToken(TOKEN) };
}

beforeEach(async () => {
  temp = mkdtempSync(join(tmpdir(), 'flotilla-kube-'));
  kube = await startKubeApiServer({
    tokens: [TOKEN],
    version: 'v1.31.2',
    crdEstablishDelayMs: 30,
    nodes: [
      {
        name: 'gpu-1',
        kubeletVersion: 'v1.30.4',
        providerID: 'aws:///eu-west-1a/i-0abc',
        allocatable: { cpu: '8', memory: '32Gi', pods: '110', 'nvidia.com/gpu': '4' },
        labels: { 'topology.kubernetes.io/region': 'eu-west-1' },
      },
      {
        name: 'gpu-2',
        kubeletVersion: 'v1.31.2',
        providerID: 'aws:///eu-west-1b/i-0def',
        allocatable: { cpu: '7910m', memory: '31Gi', pods: '110', 'nvidia.com/gpu': '2' },
        labels: { 'topology.kubernetes.io/region': 'eu-west-1' },
      },
    ],
  });
  driver = new KubernetesDriver({ connection: tokenConnection(), crdPollMs: 5, crdWaitMs: 5_000 });
});

afterEach(async () => {
  await driver.close();
  await kube.close();
  rmSync(temp, { recursive: true, force: true });
});

function writes(): { method: string; path: string; query: Readonly<Record<string, string>> }[] {
  return kube.requests.filter((r) => r.method !== 'GET');
}

describe('apply', () => {
  it('applies a bundle with server-side apply, Namespace and CRD first, and reports each resource', async () => {
    const results = await driver.apply(bundle);
    expect(results).toEqual([
      { key: 'Widget.example.com/shop/w1', status: 'applied' },
      { key: 'Deployment.apps/shop/web', status: 'applied' },
      { key: 'ConfigMap/shop/settings', status: 'applied' },
      { key: 'CustomResourceDefinition.apiextensions.k8s.io//widgets.example.com', status: 'applied' },
      { key: 'Namespace//shop', status: 'applied' },
    ]);

    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      'PATCH /api/v1/namespaces/shop',
      'PATCH /apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com',
      'PATCH /api/v1/namespaces/shop/configmaps/settings',
      'PATCH /apis/apps/v1/namespaces/shop/deployments/web',
      'PATCH /apis/example.com/v1/namespaces/shop/widgets/w1',
    ]);
    for (const request of writes()) {
      expect(request.query).toEqual({ fieldManager: 'flotilla' });
    }
    expect(
      kube.requests.filter((r) => r.method === 'PATCH').every((r) => r.contentType === 'application/apply-patch+yaml'),
    ).toBe(true);

    const live = kube.get(ref(web));
    expect(live?.['metadata']).toMatchObject({
      labels: { app: 'web', 'app.kubernetes.io/managed-by': 'flotilla' },
      annotations: { 'flotilla.io/key': 'Deployment.apps/shop/web' },
      managedFields: [
        expect.objectContaining({ manager: 'flotilla', operation: 'Apply' }),
        expect.objectContaining({ manager: 'kube-controller-manager' }),
      ],
    });
  });

  it('reports health from rollout status and keeps managedFields in what it observes', async () => {
    kube.setRollouts('manual');
    await driver.apply(bundle);
    const first = await driver.observe(bundle);
    const health = Object.fromEntries(first.map((o) => [o.key, o.health]));
    expect(health).toEqual({
      'Widget.example.com/shop/w1': 'healthy',
      'Deployment.apps/shop/web': 'progressing',
      'ConfigMap/shop/settings': 'healthy',
      'CustomResourceDefinition.apiextensions.k8s.io//widgets.example.com': 'healthy',
      'Namespace//shop': 'healthy',
    });
    expect(first.find((o) => o.key === 'Deployment.apps/shop/web')?.message).toBe(
      'waiting for the controller to observe generation 1 (observed none)',
    );

    kube.setStatus(ref(web), { observedGeneration: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 1 });
    const midway = (await driver.observe([web]))[0];
    expect(midway).toMatchObject({ health: 'progressing', message: '1 of 2 replicas updated' });

    kube.completeRollout(ref(web));
    const done = (await driver.observe([web]))[0];
    expect(done?.health).toBe('healthy');
    const managedFields = (done?.live?.['metadata'] as JsonObject)['managedFields'] as JsonObject[];
    expect(managedFields.map((m) => [m['manager'], m['operation']])).toEqual([
      ['flotilla', 'Apply'],
      ['kube-controller-manager', 'Update'],
    ]);

    const gone = (await driver.observe([{ ...settings, metadata: { name: 'absent', namespace: 'shop' } }]))[0];
    expect(gone).toEqual({
      key: 'ConfigMap/shop/absent',
      live: null,
      health: 'missing',
      message: 'not found on the cluster',
    });
  });

  it('judges a Job by its Complete condition and a DaemonSet by its scheduled pods', async () => {
    kube.setRollouts('manual');
    const job: Resource = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate', namespace: 'shop' },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'migrate:1' }] } } },
    };
    const agent: Resource = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'node-agent', namespace: 'shop' },
      spec: {
        selector: { matchLabels: { app: 'na' } },
        template: { metadata: { labels: { app: 'na' } }, spec: { containers: [{ name: 'a', image: 'agent:1' }] } },
      },
    };
    await driver.apply([namespace, job, agent]);
    expect((await driver.observe([job, agent])).map((o) => o.health)).toEqual(['progressing', 'progressing']);
    kube.setStatus(ref(agent), {
      observedGeneration: 1,
      desiredNumberScheduled: 2,
      updatedNumberScheduled: 2,
      numberAvailable: 1,
    });
    expect((await driver.observe([agent]))[0]).toMatchObject({
      health: 'progressing',
      message: '1 of 2 daemon pods available',
    });
    kube.completeRollout(ref(job));
    kube.completeRollout(ref(agent));
    expect((await driver.observe([job, agent])).map((o) => o.health)).toEqual(['healthy', 'healthy']);
  });

  it('fails a resource whose kind the cluster does not serve and still applies the others', async () => {
    const gadget: Resource = {
      apiVersion: 'example.com/v1',
      kind: 'Gadget',
      metadata: { name: 'g', namespace: 'shop' },
    };
    const results = await driver.apply([namespace, gadget, settings]);
    expect(results[1]).toEqual({
      key: 'Gadget.example.com/shop/g',
      status: 'failed',
      message: expect.stringContaining('kind Gadget in example.com/v1 is not served by this cluster'),
    });
    expect(results[2]?.status).toBe('applied');
  });

  it('gives up on a custom resource whose CRD is not served within crdWaitMs of its own clock, and applies the rest', async () => {
    const slow = await startKubeApiServer({ tokens: [TOKEN], crdEstablishDelayMs: 3_600_000 });
    let now = Date.parse('2025-03-01T12:00:00Z');
    const slept: number[] = [];
    const waiting = new KubernetesDriver({
      connection: { server: slow.url, token: staticToken(TOKEN) },
      crdWaitMs: 60_000,
      crdPollMs: 20_000,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    try {
      const results = await waiting.apply(bundle);
      expect(results[0]).toEqual({
        key: 'Widget.example.com/shop/w1',
        status: 'failed',
        message: expect.stringContaining(
          'CustomResourceDefinition widgets.example.com was applied but Widget in example.com/v1 was not served within 60000 ms',
        ),
      });
      expect(results.slice(1).map((r) => r.status)).toEqual(['applied', 'applied', 'applied', 'applied']);
      expect(slept).toEqual([20_000, 20_000, 20_000]);
    } finally {
      await waiting.close();
      await slow.close();
    }
  });

  it("fails a resource the API server rejects, with the server's reason", async () => {
    const broken: Resource = {
      ...web,
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'app', image: 'x' }] } },
      },
    };
    const results = await driver.apply([namespace, broken]);
    expect(results[1]).toMatchObject({
      status: 'failed',
      message: expect.stringContaining('Invalid: Deployment.apps "web" is invalid: spec.template.metadata.labels'),
    });
  });
});

describe('conflicts', () => {
  it('reports a field another manager changed as failed, naming the field and the manager, and applies the rest', async () => {
    await driver.apply(bundle);
    kube.as('kubectl-edit').mergePatch(ref(web), { spec: { replicas: 5 } });
    const changedSettings = { ...settings, data: { mode: 'safe' } };

    const results = await driver.apply([widget, web, changedSettings, widgetCrd, namespace]);
    expect(results.find((r) => r.key === 'Deployment.apps/shop/web')).toEqual({
      key: 'Deployment.apps/shop/web',
      status: 'failed',
      message:
        'apply conflict: .spec.replicas (managed by "kubectl-edit") changed by another field manager; Flotilla did not force it. Adopt the change into a release, revert it by hand, or apply with force',
    });
    expect(results.filter((r) => r.status === 'applied').map((r) => r.key)).toEqual([
      'Widget.example.com/shop/w1',
      'ConfigMap/shop/settings',
      'CustomResourceDefinition.apiextensions.k8s.io//widgets.example.com',
      'Namespace//shop',
    ]);
    expect((kube.get(ref(web))?.['spec'] as JsonObject)['replicas']).toBe(5);
    expect((kube.get(ref(settings))?.['data'] as JsonObject)['mode']).toBe('safe');
  });

  it('takes the field back when the caller forces that resource', async () => {
    await driver.apply(bundle);
    kube.as('kubectl-edit').mergePatch(ref(web), { spec: { replicas: 5 } });
    const results = await driver.apply(bundle, { force: new Set(['Deployment.apps/shop/web']) });
    expect(results.every((r) => r.status === 'applied')).toBe(true);
    expect(kube.requests.filter((r) => r.query['force'] === 'true').map((r) => r.path)).toEqual([
      '/apis/apps/v1/namespaces/shop/deployments/web',
    ]);
    const live = kube.get(ref(web));
    expect((live?.['spec'] as JsonObject)['replicas']).toBe(2);
    expect(JSON.stringify((live?.['metadata'] as JsonObject)['managedFields'])).not.toContain('kubectl-edit');
  });
});

describe('prune', () => {
  it('deletes a resource it applied that left the desired state, and nothing else', async () => {
    await driver.apply(bundle);
    kube.as('kubectl').apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'someone-elses', namespace: 'shop' },
      data: { keep: 'me' },
    });

    const results = await driver.apply([widget, web, widgetCrd, namespace]);
    expect(results.at(-1)).toEqual({ key: 'ConfigMap/shop/settings', status: 'pruned' });
    expect(kube.get(ref(settings))).toBeUndefined();
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'someone-elses' })).toBeDefined();
    expect(
      kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'kube-root-ca.crt' }),
    ).toBeDefined();
    expect(kube.get(ref(web))).toBeDefined();
    expect(kube.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([
      '/api/v1/namespaces/shop/configmaps/settings',
    ]);
    expect((await driver.inventory()).map((e) => e.key).sort()).toEqual([
      'CustomResourceDefinition.apiextensions.k8s.io//widgets.example.com',
      'Deployment.apps/shop/web',
      'Namespace//shop',
      'Widget.example.com/shop/w1',
    ]);
  });

  it('keeps a namespace that still holds objects it does not manage, and says which', async () => {
    await driver.apply(bundle);
    kube
      .as('kubectl')
      .apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'someone-elses', namespace: 'shop' } });

    const results = await driver.apply([]);
    expect(Object.fromEntries(results.map((r) => [r.key, r.status]))).toEqual({
      'Widget.example.com/shop/w1': 'pruned',
      'Deployment.apps/shop/web': 'pruned',
      'ConfigMap/shop/settings': 'pruned',
      'CustomResourceDefinition.apiextensions.k8s.io//widgets.example.com': 'pruned',
      'Namespace//shop': 'failed',
    });
    expect(results.find((r) => r.key === 'Namespace//shop')?.message).toContain(
      'it holds objects Flotilla does not manage (ConfigMap someone-elses)',
    );
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'someone-elses' })).toBeDefined();
    expect(kube.serves('example.com/v1', 'Widget')).toBe(false);

    kube.as('kubectl').delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'someone-elses' });
    expect(await driver.apply([])).toEqual([{ key: 'Namespace//shop', status: 'pruned' }]);
    expect(kube.get(ref(namespace))).toBeUndefined();
  });

  it("lets go without deleting an object someone took over by removing Flotilla's marks", async () => {
    await driver.apply([namespace, settings]);
    kube
      .as('kubectl-edit')
      .mergePatch(ref(settings), { metadata: { labels: { 'app.kubernetes.io/managed-by': 'helm' } } });
    const results = await driver.apply([namespace]);
    expect(results[1]).toMatchObject({
      key: 'ConfigMap/shop/settings',
      status: 'pruned',
      message: expect.stringContaining('released without deleting'),
    });
    expect(kube.get(ref(settings))).toBeDefined();
  });

  it('rebuilds its inventory from the cluster by label after a restart', async () => {
    await driver.apply(bundle);
    await driver.close();
    driver = new KubernetesDriver({ connection: tokenConnection() });
    const results = await driver.apply([widget, web, widgetCrd, namespace]);
    expect(results.at(-1)).toEqual({ key: 'ConfigMap/shop/settings', status: 'pruned' });
  });

  it('keeps its inventory in a file when given one', async () => {
    const path = join(temp, 'inventory.json');
    await driver.close();
    driver = new KubernetesDriver({
      connection: tokenConnection(),
      inventory: fileInventory(path),
      owner: 'tgt_0123456789abcdef0123',
    });
    await driver.apply([namespace, settings]);
    await driver.close();
    driver = new KubernetesDriver({
      connection: tokenConnection(),
      inventory: fileInventory(path),
      owner: 'tgt_0123456789abcdef0123',
    });
    expect((await driver.inventory()).map((e) => e.key)).toEqual(['ConfigMap/shop/settings', 'Namespace//shop']);
    expect((kube.get(ref(settings))?.['metadata'] as JsonObject)['labels']).toEqual({
      'app.kubernetes.io/managed-by': 'flotilla',
      'flotilla.io/target': 'tgt_0123456789abcdef0123',
    });
  });
});

describe('facts', () => {
  it('reports versions, node count, summed allocatable capacity and the substrate', async () => {
    expect(await driver.facts()).toEqual({
      driver: 'kubernetes',
      kubernetesVersion: 'v1.31.2',
      kubeletVersions: ['v1.30.4', 'v1.31.2'],
      nodeCount: 2,
      capabilities: { cpu: 15.91, memory: 63 * 2 ** 30, pods: 220, 'nvidia.com/gpu': 6 },
      substrate: 'aws',
      regions: ['eu-west-1'],
    });
  });

  it.each([
    ['aws:///eu-west-1a/i-0abc', 'aws'],
    ['gce://my-project/europe-west1-b/node-1', 'gce'],
    ['azure:///subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm', 'azure'],
    ['openstack:///8c1f1d6e-b2a5-4f3c-9d41-cb5b1b1e3c5a', 'openstack'],
    ['vsphere://4204a7a3-e8a2-4b6c-a1c2-9e1f0d4c5b6a', 'vsphere'],
    ['k3s://edge-node-1', 'on-prem'],
    ['', 'on-prem'],
    [undefined, 'on-prem'],
  ])('reads the substrate of provider ID %j as %s', (providerID, substrate) => {
    expect(substrateOf(providerID)).toBe(substrate);
  });
});

describe('connections', () => {
  let tls: KubeApiServer;

  beforeEach(async () => {
    tls = await startKubeApiServer({ tokens: ['sa-token-1'], tls: true, version: 'v1.30.1' });
  });

  afterEach(async () => {
    await tls.close();
  });

  it('runs in a pod with the mounted service-account token, and reads it again after it rotates', async () => {
    const tokenPath = join(temp, 'token');
    const caPath = join(temp, 'ca.crt');
    writeFileSync(tokenPath, 'sa-token-1\n');
    writeFileSync(caPath, tls.caCertificate);
    writeFileSync(join(temp, 'namespace'), 'flotilla-system');
    const connection = inClusterConnection({
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(tls.port) },
      tokenPath,
      caPath,
      namespacePath: join(temp, 'namespace'),
    });
    expect(connection).toMatchObject({ server: `https://127.0.0.1:${tls.port}`, namespace: 'flotilla-system' });
    const inPod = new KubernetesDriver({ connection });
    try {
      expect((await inPod.facts()).kubernetesVersion).toBe('v1.30.1');

      // The kubelet rotates the projected token; the API server stops accepting the old one.
      writeFileSync(tokenPath, 'sa-token-2\n');
      tls.setTokens(['sa-token-2']);
      expect((await inPod.facts()).kubernetesVersion).toBe('v1.30.1');
      expect(tls.requests.filter((r) => r.path === '/version').map((r) => r.status)).toEqual([200, 401, 200]);
    } finally {
      await inPod.close();
    }
  });

  it('notices a rotated token file by its modification time, before the server refuses the old token', async () => {
    const tokenPath = join(temp, 'token');
    writeFileSync(tokenPath, 'sa-token-1');
    const inPod = new KubernetesDriver({
      connection: { server: tls.url, ca: tls.caCertificate, token: new FileTokenSource(tokenPath, { recheckMs: 0 }) },
    });
    try {
      await inPod.facts();
      writeFileSync(tokenPath, 'sa-token-rotated');
      tls.setTokens(['sa-token-1', 'sa-token-rotated']);
      await inPod.facts();
      tls.setTokens(['sa-token-rotated']);
      await inPod.facts();
      expect(tls.requests.every((r) => r.status === 200)).toBe(true);
    } finally {
      await inPod.close();
    }
  });

  it('refuses to start in-cluster outside a pod', () => {
    expect(() => inClusterConnection({ env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  function kubeconfig(
    user: JsonObject,
    cluster: JsonObject = { 'certificate-authority-data': Buffer.from(fixtureTls.ca).toString('base64') },
  ): string {
    const path = join(temp, 'kubeconfig');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: edge',
        'clusters:',
        `- name: edge-cluster`,
        `  cluster: ${JSON.stringify({ server: tls.url, ...cluster })}`,
        'contexts:',
        '- name: edge',
        '  context: {cluster: edge-cluster, user: agent, namespace: shop}',
        '- name: other',
        '  context: {cluster: edge-cluster, user: agent}',
        'users:',
        `- name: agent`,
        `  user: ${JSON.stringify(user)}`,
      ].join('\n'),
    );
    return path;
  }

  it('loads a kubeconfig with a client certificate and the cluster CA inline', async () => {
    const path = kubeconfig({
      'client-certificate-data': Buffer.from(fixtureTls.clientCert).toString('base64'),
      'client-key-data': Buffer.from(fixtureTls.clientKey).toString('base64'),
    });
    const connection = kubeconfigConnection({ path });
    expect(connection).toMatchObject({ server: tls.url, namespace: 'shop' });
    const fromFile = new KubernetesDriver({ connection });
    try {
      expect((await fromFile.facts()).kubernetesVersion).toBe('v1.30.1');
    } finally {
      await fromFile.close();
    }
  });

  it('loads a kubeconfig with a token, a CA file relative to it, and another context', async () => {
    writeFileSync(join(temp, 'cluster-ca.pem'), fixtureTls.ca);
    const path = kubeconfig({ token: 'sa-token-1' }, { 'certificate-authority': 'cluster-ca.pem' });
    const connection = kubeconfigConnection({ path, context: 'other' });
    expect(connection.namespace).toBeUndefined();
    const fromFile = new KubernetesDriver({ connection });
    try {
      expect((await fromFile.facts()).nodeCount).toBe(1);
    } finally {
      await fromFile.close();
    }
  });

  it('skips verification only when the kubeconfig says insecure-skip-tls-verify', async () => {
    const verified = new KubernetesDriver({
      connection: kubeconfigConnection({ path: kubeconfig({ token: 'sa-token-1' }, {}) }),
    });
    const insecure = new KubernetesDriver({
      connection: kubeconfigConnection({
        path: kubeconfig({ token: 'sa-token-1' }, { 'insecure-skip-tls-verify': true }),
      }),
    });
    try {
      await expect(verified.facts()).rejects.toMatchObject({ code: 'KUBE_UNREACHABLE' });
      expect((await insecure.facts()).kubernetesVersion).toBe('v1.30.1');
    } finally {
      await verified.close();
      await insecure.close();
    }
  });

  it("verifies the server's certificate under the kubeconfig's tls-server-name", async () => {
    const ca = Buffer.from(fixtureTls.ca).toString('base64');
    const named = (name: string): KubernetesDriver =>
      new KubernetesDriver({
        connection: kubeconfigConnection({
          path: kubeconfig({ token: 'sa-token-1' }, { 'certificate-authority-data': ca, 'tls-server-name': name }),
        }),
      });
    // The server's certificate names 127.0.0.1, localhost and kubernetes.default.svc.
    const inCertificate = named('kubernetes.default.svc');
    const elsewhere = named('elsewhere.example');
    try {
      expect((await inCertificate.facts()).kubernetesVersion).toBe('v1.30.1');
      await expect(elsewhere.facts()).rejects.toMatchObject({
        code: 'KUBE_UNREACHABLE',
        details: { cause: 'ERR_TLS_CERT_ALTNAME_INVALID' },
      });
    } finally {
      await inCertificate.close();
      await elsewhere.close();
    }
  });

  it.each([
    [
      'an exec plugin',
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws' } },
      'exec credential plugin',
    ],
    ['basic authentication', { username: 'admin', password: 'secret' }, 'basic authentication'],
    [
      'a certificate without its key',
      { 'client-certificate-data': Buffer.from(fixtureTls.clientCert).toString('base64') },
      'without its key',
    ],
  ])('refuses a kubeconfig user with %s', (_name, user, message) => {
    const path = kubeconfig(user);
    let error: unknown;
    try {
      kubeconfigConnection({ path });
    } catch (caught) {
      error = caught;
    }
    expect(isFlotillaError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('secret');
  });

  it('names the missing context', () => {
    const path = kubeconfig({ token: 't' });
    expect(() => kubeconfigConnection({ path, context: 'prod' })).toThrow(
      'context "prod" is not defined; defined contexts: edge, other',
    );
  });
});
