import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KubeStatusError,
  startKubeApiServer,
  type JsonObject,
  type KubeApiServer,
  type ObjectRef,
} from './fixtures/kube-apiserver/index.ts';

const TOKEN = 'stand-in-token';

let kube: KubeApiServer;

beforeEach(async () => {
  kube = await startKubeApiServer({ tokens: [TOKEN] });
});

afterEach(async () => {
  await kube.close();
});

async function call(
  method: string,
  path: string,
  options: { body?: unknown; contentType?: string; token?: string | null } = {},
): Promise<{ status: number; body: JsonObject }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await fetch(`${kube.url}${path}`, {
    method,
    headers,
    ...(options.body === undefined
      ? {}
      : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
  });
  return { status: response.status, body: (await response.json()) as JsonObject };
}

function statusOf(action: () => unknown): JsonObject {
  try {
    action();
  } catch (error) {
    if (error instanceof KubeStatusError) return error.status;
    throw error;
  }
  throw new Error('expected the API server to refuse the request');
}

const web: ObjectRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' };

function deployment(spec: JsonObject = {}, metadata: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', ...metadata },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'registry.example/web:1.0' }] },
      },
      ...spec,
    },
  };
}

function managers(object: JsonObject | undefined): JsonObject[] {
  const entries = (object?.['metadata'] as JsonObject | undefined)?.['managedFields'];
  return Array.isArray(entries) ? (entries as JsonObject[]) : [];
}

function entryOf(object: JsonObject | undefined, manager: string): JsonObject | undefined {
  return managers(object).find((entry) => entry['manager'] === manager);
}

function createNamespace(name = 'shop'): void {
  kube.as('flotilla').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

describe('authentication', () => {
  it('answers a request without a valid bearer token with a 401 Status', async () => {
    const missing = await call('GET', '/api/v1/namespaces', { token: null });
    const wrong = await call('GET', '/api/v1/namespaces', { token: 'nope' });
    expect(missing).toEqual({
      status: 401,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      },
    });
    expect(wrong.status).toBe(401);
  });

  it('accepts only the new token after a rotation', async () => {
    kube.setTokens(['rotated']);
    expect((await call('GET', '/version')).status).toBe(401);
    expect((await call('GET', '/version', { token: 'rotated' })).status).toBe(200);
  });
});

describe('discovery', () => {
  it('serves the core group, named groups and their resources with scope and verbs', async () => {
    const api = await call('GET', '/api');
    expect(api.body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });

    const core = await call('GET', '/api/v1');
    const resources = core.body['resources'] as JsonObject[];
    expect(resources.find((r) => r['name'] === 'configmaps')).toMatchObject({
      kind: 'ConfigMap',
      namespaced: true,
      verbs: expect.arrayContaining(['get', 'list', 'patch', 'delete']),
    });
    expect(resources.find((r) => r['name'] === 'namespaces')).toMatchObject({ kind: 'Namespace', namespaced: false });

    const groups = await call('GET', '/apis');
    expect(groups.body['kind']).toBe('APIGroupList');
    expect(groups.body['groups']).toContainEqual({
      name: 'apps',
      versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
    });

    const apps = await call('GET', '/apis/apps/v1');
    const names = (apps.body['resources'] as JsonObject[]).map((r) => r['name']);
    expect(names).toEqual(
      expect.arrayContaining(['deployments', 'deployments/status', 'deployments/scale', 'daemonsets', 'statefulsets']),
    );
    expect((await call('GET', '/apis/coordination.k8s.io/v1')).body['resources']).toContainEqual(
      expect.objectContaining({ name: 'leases', kind: 'Lease', namespaced: true }),
    );
    expect((await call('GET', '/apis/example.com/v1')).status).toBe(404);
  });

  it('serves /version', async () => {
    const version = await call('GET', '/version');
    expect(version.body).toMatchObject({ major: '1', minor: '31', gitVersion: 'v1.31.2' });
  });

  it('starts serving a custom resource once its CRD is created, and stops when it is deleted', async () => {
    createNamespace();
    expect(kube.serves('example.com/v1', 'Widget')).toBe(false);
    kube.as('flotilla').apply(widgetCrd());
    const discovery = await call('GET', '/apis/example.com/v1');
    expect(discovery.body['resources']).toContainEqual(
      expect.objectContaining({ name: 'widgets', kind: 'Widget', namespaced: true }),
    );
    const crd = kube.get({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: 'widgets.example.com',
    });
    expect((crd?.['status'] as JsonObject)['conditions']).toContainEqual(
      expect.objectContaining({ type: 'Established', status: 'True' }),
    );

    const widget = kube.as('flotilla').apply({
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w1', namespace: 'shop' },
      spec: { size: 3, tags: ['a', 'b'] },
    });
    expect(entryOf(widget, 'flotilla')?.['fieldsV1']).toEqual({ 'f:spec': { 'f:size': {}, 'f:tags': {} } });
    expect((await call('GET', '/apis/example.com/v1/namespaces/shop/widgets/w1')).body).toMatchObject({
      kind: 'Widget',
      spec: { size: 3 },
    });

    kube
      .as('flotilla')
      .delete({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' });
    expect((await call('GET', '/apis/example.com/v1/namespaces/shop/widgets/w1')).status).toBe(404);
  });

  it('serves a custom resource only once its CRD is established', async () => {
    const slow = await startKubeApiServer({ crdEstablishDelayMs: 20 });
    try {
      slow.as('flotilla').apply(widgetCrd());
      const crdRef = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: 'widgets.example.com',
      };
      expect(slow.serves('example.com/v1', 'Widget')).toBe(false);
      expect((slow.get(crdRef)?.['status'] as JsonObject)['conditions']).toContainEqual(
        expect.objectContaining({ type: 'Established', status: 'False' }),
      );
      await vi.waitFor(() => expect(slow.serves('example.com/v1', 'Widget')).toBe(true), {
        timeout: 10_000,
        interval: 5,
      });
      expect((slow.get(crdRef)?.['status'] as JsonObject)['conditions']).toContainEqual(
        expect.objectContaining({ type: 'Established', status: 'True' }),
      );
    } finally {
      await slow.close();
    }
  });
});

function widgetCrd(): JsonObject {
  return {
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
}

describe('namespaces and errors', () => {
  it('refuses a namespaced object in a namespace that does not exist with a NotFound Status', async () => {
    const response = await call('POST', '/api/v1/namespaces/nope/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
    });
    expect(response).toEqual({
      status: 404,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'namespaces "nope" not found',
        reason: 'NotFound',
        details: { name: 'nope', kind: 'namespaces' },
        code: 404,
      },
    });
  });

  it('names the group in a NotFound for a grouped resource', async () => {
    createNamespace();
    const response = await call('GET', '/apis/apps/v1/namespaces/shop/deployments/missing');
    expect(response.body).toMatchObject({
      message: 'deployments.apps "missing" not found',
      reason: 'NotFound',
      details: { name: 'missing', group: 'apps', kind: 'deployments' },
      code: 404,
    });
  });

  it('puts the root CA ConfigMap and the default ServiceAccount into a new namespace', () => {
    createNamespace();
    expect(
      kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'kube-root-ca.crt' }),
    ).toBeDefined();
    expect(kube.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'shop', name: 'default' })).toBeDefined();
    expect(kube.get({ apiVersion: 'v1', kind: 'Namespace', name: 'shop' })).toMatchObject({
      metadata: { labels: { 'kubernetes.io/metadata.name': 'shop' } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  });

  it('answers an invalid workload with an Invalid Status naming the field', () => {
    createNamespace();
    const status = statusOf(() =>
      kube.as('flotilla').apply(deployment({ selector: { matchLabels: { app: 'other' } } })),
    );
    expect(status).toMatchObject({
      code: 422,
      reason: 'Invalid',
      details: { kind: 'Deployment', group: 'apps', name: 'web' },
    });
    expect(status['message']).toEqual(expect.stringContaining('spec.template.metadata.labels'));
  });
});

describe('server-side apply', () => {
  beforeEach(() => createNamespace());

  it('creates the object with server fields, defaults, and an Apply entry in FieldsV1', () => {
    const created = kube.as('flotilla').apply(deployment({ replicas: 2 }, { labels: { team: 'shop' } }));
    const metadata = created['metadata'] as JsonObject;
    expect(metadata).toMatchObject({
      name: 'web',
      namespace: 'shop',
      generation: 1,
      uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      resourceVersion: expect.stringMatching(/^\d+$/),
    });
    expect(metadata['creationTimestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created['spec']).toMatchObject({
      replicas: 2,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        spec: {
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
          containers: [
            { name: 'app', imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log' },
          ],
        },
      },
    });
    expect(entryOf(created, 'flotilla')).toEqual({
      manager: 'flotilla',
      operation: 'Apply',
      apiVersion: 'apps/v1',
      time: expect.any(String),
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { 'f:team': {} } },
        'f:spec': {
          'f:replicas': {},
          'f:selector': {},
          'f:template': {
            'f:metadata': { 'f:labels': { 'f:app': {} } },
            'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
          },
        },
      },
    });
  });

  it('requires a field manager', async () => {
    const response = await call('PATCH', '/apis/apps/v1/namespaces/shop/deployments/web', {
      body: deployment(),
      contentType: 'application/apply-patch+yaml',
    });
    expect(response.status).toBe(422);
    expect(response.body['message']).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  });

  it('accepts YAML as well as JSON', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n';
    const response = await call('PATCH', '/api/v1/namespaces/shop/configmaps/settings?fieldManager=flotilla', {
      body: yaml,
      contentType: 'application/apply-patch+yaml',
    });
    expect(response.status).toBe(201);
    expect(response.body['data']).toEqual({ mode: 'fast' });
  });

  it('defaults the replicas of a Deployment that does not set them, owned by nobody', () => {
    const created = kube.as('flotilla').apply(deployment());
    expect((created['spec'] as JsonObject)['replicas']).toBe(1);
    expect((entryOf(created, 'flotilla')?.['fieldsV1'] as JsonObject)['f:spec']).not.toHaveProperty('f:replicas');
  });

  it('answers a change to a field another manager owns with a 409 naming the field and the manager', () => {
    kube.as('helm').apply(deployment({ replicas: 2 }));
    const status = statusOf(() => kube.as('flotilla').apply(deployment({ replicas: 3 })));
    expect(status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Apply failed with 1 conflict: conflict with "helm": .spec.replicas',
      reason: 'Conflict',
      details: {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "helm"', field: '.spec.replicas' }],
      },
      code: 409,
    });
    expect((kube.get(web)?.['spec'] as JsonObject)['replicas']).toBe(2);
  });

  it('lists every conflicting field of every manager', () => {
    kube.as('helm').apply(deployment({ replicas: 2 }, { labels: { tier: 'front' } }));
    const status = statusOf(() =>
      kube.as('flotilla').apply(
        deployment(
          {
            replicas: 3,
            template: {
              metadata: { labels: { app: 'web' } },
              spec: { containers: [{ name: 'app', image: 'registry.example/web:2.0' }] },
            },
          },
          { labels: { tier: 'back' } },
        ),
      ),
    );
    expect(status['message']).toBe(
      [
        'Apply failed with 3 conflicts: conflicts with "helm":',
        '- .metadata.labels.tier',
        '- .spec.replicas',
        '- .spec.template.spec.containers[name="app"].image',
      ].join('\n'),
    );
  });

  it('shares ownership when two managers apply the same value', () => {
    kube.as('helm').apply(deployment({ replicas: 2 }));
    const shared = kube.as('flotilla').apply(deployment({ replicas: 2 }));
    expect(entryOf(shared, 'helm')?.['fieldsV1']).toMatchObject({ 'f:spec': { 'f:replicas': {} } });
    expect(entryOf(shared, 'flotilla')?.['fieldsV1']).toMatchObject({ 'f:spec': { 'f:replicas': {} } });
    // From now on a change by either conflicts with the other.
    expect(statusOf(() => kube.as('helm').apply(deployment({ replicas: 4 })))['message']).toContain(
      'conflict with "flotilla"',
    );
  });

  it('with force takes the conflicting fields away from their owner', () => {
    kube.as('helm').apply(deployment({ replicas: 2 }));
    const forced = kube.as('flotilla').apply(deployment({ replicas: 3 }), { force: true });
    expect((forced['spec'] as JsonObject)['replicas']).toBe(3);
    expect(JSON.stringify(entryOf(forced, 'helm')?.['fieldsV1'])).not.toContain('f:replicas');
    expect(entryOf(forced, 'flotilla')?.['fieldsV1']).toMatchObject({ 'f:spec': { 'f:replicas': {} } });
  });

  it('removes a field the manager stops applying when no one else owns it', () => {
    kube.as('flotilla').apply(deployment({}, { labels: { team: 'shop', tier: 'front' } }));
    const applied = kube.as('flotilla').apply(deployment({}, { labels: { team: 'shop' } }));
    expect((applied['metadata'] as JsonObject)['labels']).toEqual({ team: 'shop' });
  });

  it('keeps a field the manager stops applying when another manager also owns it', () => {
    kube.as('flotilla').apply(deployment({}, { labels: { team: 'shop', tier: 'front' } }));
    kube.as('helm').apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop', labels: { tier: 'front' } },
    });
    const applied = kube.as('flotilla').apply(deployment({}, { labels: { team: 'shop' } }));
    expect((applied['metadata'] as JsonObject)['labels']).toEqual({ team: 'shop', tier: 'front' });
    expect(JSON.stringify(entryOf(applied, 'flotilla')?.['fieldsV1'])).not.toContain('f:tier');
  });

  it('resets a removed field that has a default to the default', () => {
    kube.as('flotilla').apply(deployment({ replicas: 3 }));
    const applied = kube.as('flotilla').apply(deployment());
    expect((applied['spec'] as JsonObject)['replicas']).toBe(1);
  });

  it('removes a list item the manager stops applying, and keeps items others own', () => {
    const twoContainers = {
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            { name: 'app', image: 'web:1' },
            { name: 'sidecar', image: 'proxy:1' },
          ],
        },
      },
    };
    kube.as('flotilla').apply(deployment(twoContainers));
    kube.as('mesh-injector').apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { template: { spec: { containers: [{ name: 'injected', image: 'mesh:1' }] } } },
    });
    const applied = kube.as('flotilla').apply(
      deployment({
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'web:1' }] } },
      }),
    );
    const containers = (((applied['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject)[
      'containers'
    ] as JsonObject[];
    expect(containers.map((c) => c['name'])).toEqual(['app', 'injected']);
  });

  it('does not write when an apply changes nothing', () => {
    kube.as('flotilla').apply(deployment({ replicas: 2 }));
    const settled = kube.get(web);
    const second = kube.as('flotilla').apply(deployment({ replicas: 2 }));
    expect(second['metadata']).toEqual(settled?.['metadata']);
  });

  it('bumps generation on a spec change but not on a label change', () => {
    kube.as('flotilla').apply(deployment({ replicas: 2 }));
    const relabelled = kube.as('flotilla').apply(deployment({ replicas: 2 }, { labels: { a: 'b' } }));
    expect((relabelled['metadata'] as JsonObject)['generation']).toBe(1);
    const scaled = kube.as('flotilla').apply(deployment({ replicas: 4 }, { labels: { a: 'b' } }));
    expect((scaled['metadata'] as JsonObject)['generation']).toBe(2);
  });

  it('refuses managedFields in an applied configuration', () => {
    const status = statusOf(() => kube.as('flotilla').apply(deployment({}, { managedFields: [{ manager: 'x' }] })));
    expect(status).toMatchObject({ code: 400, message: 'metadata.managedFields must be nil' });
  });
});

describe('updates by other managers', () => {
  beforeEach(() => {
    createNamespace();
    kube.as('flotilla').apply(deployment({ replicas: 2 }));
  });

  it('gives kubectl edit (a merge patch, operation Update) the fields it changes', () => {
    const edited = kube.as('kubectl-edit').mergePatch(web, { spec: { replicas: 5 } });
    expect(entryOf(edited, 'kubectl-edit')).toMatchObject({
      operation: 'Update',
      apiVersion: 'apps/v1',
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    });
    expect(JSON.stringify(entryOf(edited, 'flotilla')?.['fieldsV1'])).not.toContain('f:replicas');

    const status = statusOf(() => kube.as('flotilla').apply(deployment({ replicas: 2 })));
    expect(status['message']).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas',
    );
    expect((status['details'] as JsonObject)['causes']).toEqual([
      {
        reason: 'FieldManagerConflict',
        message: 'conflict with "kubectl-edit" using apps/v1',
        field: '.spec.replicas',
      },
    ]);
  });

  it('removes a field set to null by a merge patch, and its ownership with it', () => {
    kube.as('flotilla').apply(deployment({ replicas: 2 }, { labels: { team: 'shop' } }));
    const edited = kube.as('kubectl-edit').mergePatch(web, { metadata: { labels: { team: null } } });
    expect((edited['metadata'] as JsonObject)['labels']).toBeUndefined();
    expect(JSON.stringify(entryOf(edited, 'flotilla')?.['fieldsV1'])).not.toContain('f:team');
    expect(entryOf(edited, 'kubectl-edit')).toBeUndefined();
  });

  it('applies a JSON patch', async () => {
    const response = await call('PATCH', '/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=ops', {
      body: [
        { op: 'replace', path: '/spec/replicas', value: 4 },
        { op: 'add', path: '/metadata/annotations', value: { note: 'hot fix' } },
      ],
      contentType: 'application/json-patch+json',
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ spec: { replicas: 4 }, metadata: { annotations: { note: 'hot fix' } } });
  });

  it('merges a strategic merge patch into the container with the same name', () => {
    const edited = kube.as('kubectl-edit').strategicMergePatch(web, {
      spec: { template: { spec: { containers: [{ name: 'app', image: 'registry.example/web:1.1' }] } } },
    });
    const containers = (((edited['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject)[
      'containers'
    ] as JsonObject[];
    expect(containers).toHaveLength(1);
    expect(containers[0]).toMatchObject({
      name: 'app',
      image: 'registry.example/web:1.1',
      imagePullPolicy: 'IfNotPresent',
    });
    expect(entryOf(edited, 'kubectl-edit')?.['fieldsV1']).toEqual({
      'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { 'f:image': {} } } } } },
    });
  });

  it('records a scale through the scale subresource with its subresource', () => {
    const scale = kube.as('vpa-recommender').scale(web, 7);
    expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 7 } });
    expect(entryOf(kube.get(web), 'vpa-recommender')).toMatchObject({
      operation: 'Update',
      subresource: 'scale',
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    });
    expect(statusOf(() => kube.as('flotilla').apply(deployment({ replicas: 2 })))['message']).toBe(
      'Apply failed with 1 conflict: conflict with "vpa-recommender" with subresource "scale" using apps/v1: .spec.replicas',
    );
  });

  it('refuses a PUT carrying a stale resourceVersion', () => {
    const live = kube.get(web) ?? {};
    kube.as('kubectl-edit').mergePatch(web, { metadata: { labels: { edited: 'yes' } } });
    const status = statusOf(() =>
      kube.as('controller').update({ ...live, metadata: { ...(live['metadata'] as JsonObject), managedFields: null } }),
    );
    expect(status).toMatchObject({
      code: 409,
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    });
  });

  it('accepts a PUT at the current resourceVersion and bumps it', () => {
    const live = kube.get(web) ?? {};
    const before = Number((live['metadata'] as JsonObject)['resourceVersion']);
    const updated = kube.as('controller').update({ ...live, spec: { ...(live['spec'] as JsonObject), paused: true } });
    expect(Number((updated['metadata'] as JsonObject)['resourceVersion'])).toBeGreaterThan(before);
    expect(entryOf(updated, 'controller')?.['fieldsV1']).toEqual({ 'f:spec': { 'f:paused': {} } });
  });

  it('refuses a delete whose uid precondition names another object', async () => {
    const response = await call('DELETE', '/apis/apps/v1/namespaces/shop/deployments/web', {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'another' } },
    });
    expect(response.status).toBe(409);
    expect(kube.get(web)).toBeDefined();
  });
});

describe('lists, status and leases', () => {
  beforeEach(() => createNamespace());

  it('lists by label selector, with typed items that carry no kind', async () => {
    kube.as('flotilla').apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'flotilla' } },
    });
    kube.as('kubectl').apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'shop' } });
    const response = await call(
      'GET',
      `/api/v1/namespaces/shop/configmaps?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=flotilla')}`,
    );
    expect(response.body).toMatchObject({
      kind: 'ConfigMapList',
      apiVersion: 'v1',
      metadata: { resourceVersion: expect.any(String) },
    });
    const items = response.body['items'] as JsonObject[];
    expect(items.map((item) => (item['metadata'] as JsonObject)['name'])).toEqual(['a']);
    expect(items[0]).not.toHaveProperty('kind');
  });

  it('keeps a rollout in progress until the test completes it, in manual mode', () => {
    kube.setRollouts('manual');
    kube.as('flotilla').apply(deployment({ replicas: 3 }));
    expect(kube.get(web)?.['status']).toBeUndefined();
    kube.setStatus(web, { observedGeneration: 1, replicas: 3, updatedReplicas: 1, availableReplicas: 1 });
    expect(kube.get(web)?.['status']).toMatchObject({ updatedReplicas: 1 });
    kube.completeRollout(web);
    expect(kube.get(web)?.['status']).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
    });
    expect(entryOf(kube.get(web), 'kube-controller-manager')).toMatchObject({
      operation: 'Update',
      subresource: 'status',
    });
  });

  it('ignores status in a main-resource write of a kind with a status subresource', () => {
    kube.setRollouts('manual');
    const created = kube.as('flotilla').apply({ ...deployment(), status: { replicas: 9 } });
    expect(created['status']).toBeUndefined();
  });

  it('defaults a Service to ClusterIP with an allocated address and TCP ports', () => {
    const service = kube.as('flotilla').apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    expect(service['spec']).toMatchObject({
      type: 'ClusterIP',
      clusterIP: expect.stringMatching(/^10\.96\./),
      sessionAffinity: 'None',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
  });

  it('keeps Leases with optimistic concurrency', async () => {
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'lock', namespace: 'shop' },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15 },
    };
    const created = await call('POST', '/apis/coordination.k8s.io/v1/namespaces/shop/leases', { body: lease });
    expect(created.status).toBe(201);
    const again = await call('POST', '/apis/coordination.k8s.io/v1/namespaces/shop/leases', { body: lease });
    expect(again.body).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      message: 'leases.coordination.k8s.io "lock" already exists',
    });
    const rv = (created.body['metadata'] as JsonObject)['resourceVersion'];
    const renewed = await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/shop/leases/lock', {
      body: {
        ...lease,
        metadata: { ...lease.metadata, resourceVersion: rv },
        spec: { holderIdentity: 'b', leaseDurationSeconds: 15 },
      },
    });
    expect(renewed.status).toBe(200);
    const stale = await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/shop/leases/lock', {
      body: { ...lease, metadata: { ...lease.metadata, resourceVersion: rv } },
    });
    expect(stale.status).toBe(409);
  });
});
