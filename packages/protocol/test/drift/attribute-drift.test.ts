import { describe, expect, it } from 'vitest';
import {
  attributeDrift,
  type AttributedDriftItem,
  diffResource,
  diffResources,
  FLOTILLA_FIELD_MANAGER,
  type DriftItem,
} from '../../src/drift/index.ts';
import type { Resource } from '../../src/index.ts';
import { desiredWeb, dropAgentField, liveWeb, withEntry } from './fixtures/web-deployment.ts';

const CONTAINER_APP = 'k:{"name":"app"}';
const templateSpec = (inner: Record<string, unknown>) => ({ 'f:spec': { 'f:template': { 'f:spec': inner } } });
const appContainer = (inner: Record<string, unknown>) => templateSpec({ 'f:containers': { [CONTAINER_APP]: inner } });

function attributeOne(live: ReturnType<typeof liveWeb>, desired: Resource = desiredWeb()) {
  const items = diffResource(desired, live);
  expect(items).toHaveLength(1);
  return attributeDrift(items, [live])[0] as AttributedDriftItem;
}

describe('attributeDrift from managedFields', () => {
  it('names the HPA (kube-controller-manager through the scale subresource) for replicas', () => {
    const live = liveWeb();
    live.spec.replicas = 7;
    dropAgentField(live, 'f:spec', 'f:replicas');
    withEntry(live, {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2025-03-01T12:30:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
      subresource: 'scale',
    });
    expect(attributeOne(live)).toMatchObject({
      item: { path: 'spec.replicas' },
      actor: { manager: 'kube-controller-manager', operation: 'Update', subresource: 'scale', basis: 'field-owner' },
      since: '2025-03-01T12:30:00Z',
    });
  });

  it('names kubectl-edit for an image edited by hand', () => {
    const live = liveWeb();
    live.spec.template.spec.containers[0].image = 'ghcr.io/acme/web:hotfix';
    dropAgentField(live, 'f:spec', 'f:template', 'f:spec', 'f:containers', CONTAINER_APP, 'f:image');
    withEntry(live, {
      manager: 'kubectl-edit',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2025-03-01T13:05:10Z',
      fieldsType: 'FieldsV1',
      fieldsV1: appContainer({ 'f:image': {} }),
    });
    expect(attributeOne(live)).toMatchObject({
      actor: { manager: 'kubectl-edit', operation: 'Update', basis: 'field-owner' },
      since: '2025-03-01T13:05:10Z',
    });
  });

  it('names kubectl-patch for an env value, through the keyed env item', () => {
    const live = liveWeb();
    live.spec.template.spec.containers[0].env[0].value = 'debug';
    withEntry(live, {
      manager: 'kubectl-patch',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2025-03-01T14:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: appContainer({ 'f:env': { 'k:{"name":"LOG_LEVEL"}': { 'f:value': {} } } }),
    });
    expect(attributeOne(live)).toMatchObject({
      item: { path: 'spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value' },
      actor: { manager: 'kubectl-patch', basis: 'field-owner' },
    });
  });

  it('names the manager of an added privileged flag, and prefers it over a spoofed Flotilla entry', () => {
    const live = liveWeb();
    live.spec.template.spec.containers[0].securityContext.privileged = true;
    const fields = appContainer({ 'f:securityContext': { 'f:privileged': {} } });
    withEntry(live, {
      manager: FLOTILLA_FIELD_MANAGER,
      operation: 'Update',
      time: '2025-03-01T15:00:01Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    });
    withEntry(live, {
      manager: 'kubectl',
      operation: 'Apply',
      time: '2025-03-01T15:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    });
    expect(attributeOne(live).actor).toEqual({ manager: 'kubectl', operation: 'Apply', basis: 'field-owner' });
  });

  it('picks the most recent of several owners', () => {
    const live = liveWeb();
    live.spec.template.spec.containers[0].env[0].value = 'debug';
    const fields = appContainer({ 'f:env': { 'k:{"name":"LOG_LEVEL"}': { 'f:value': {} } } });
    withEntry(live, {
      manager: 'old-tool',
      operation: 'Apply',
      time: '2025-03-01T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    });
    withEntry(live, {
      manager: 'new-tool',
      operation: 'Apply',
      time: '2025-03-02T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    });
    expect(attributeOne(live)).toMatchObject({ actor: { manager: 'new-tool' }, since: '2025-03-02T10:00:00Z' });
  });

  it('names the owner of an atomic list for an item added to it', () => {
    const desired = desiredWeb();
    (desired.spec as any).template.spec.containers[0].securityContext.capabilities.add = ['NET_BIND_SERVICE'];
    const live = liveWeb();
    live.spec.template.spec.containers[0].securityContext.capabilities.add = ['NET_BIND_SERVICE', 'SYS_ADMIN'];
    // capabilities.add is an atomic list: its owner owns every item, shown as a leaf `f:add`.
    withEntry(live, {
      manager: 'kubectl-patch',
      operation: 'Update',
      time: '2025-03-01T16:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: appContainer({ 'f:securityContext': { 'f:capabilities': { 'f:add': {} } } }),
    });
    expect(attributeOne(live, desired)).toMatchObject({
      item: { path: 'spec.template.spec.containers[name=app].securityContext.capabilities.add[1]', change: 'added' },
      actor: { manager: 'kubectl-patch', basis: 'ancestor-owner' },
    });
  });

  it('guesses the manager closest to a removed field, and says it is a guess', () => {
    const live = liveWeb();
    live.spec.template.spec.containers[0].env = [{ name: 'LOG_LEVEL', value: 'debug' }];
    dropAgentField(
      live,
      'f:spec',
      'f:template',
      'f:spec',
      'f:containers',
      CONTAINER_APP,
      'f:env',
      'k:{"name":"DB_HOST"}',
    );
    withEntry(live, {
      manager: 'kubectl-edit',
      operation: 'Update',
      time: '2025-03-01T17:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: appContainer({ 'f:env': { 'k:{"name":"LOG_LEVEL"}': { 'f:value': {} } } }),
    });
    const items = diffResource(desiredWeb(), live);
    const removed = attributeDrift(items, [live]).find((a) => a.item.change === 'removed');
    expect(removed).toMatchObject({
      item: { path: 'spec.template.spec.containers[name=app].env[name=DB_HOST]' },
      actor: { manager: 'kubectl-edit', basis: 'nearest-manager' },
    });
  });

  it('resolves a keyed item through all its FieldsV1 keys: a Pod from kubectl client-side apply', () => {
    // Shaped like `kubectl get pod -o json` for a Pod created with `kubectl apply` (client side),
    // later relabelled by another controller.
    const desired: Resource = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nginx', namespace: 'default' },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80, name: 'http' }] }] },
    };
    const live = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'nginx',
        namespace: 'default',
        uid: 'eae00ed2-72d2-4ab4-9012-51ba11a284d0',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1","kind":"Pod"}\n' },
        managedFields: [
          {
            manager: 'kubectl-client-side-apply',
            operation: 'Update',
            apiVersion: 'v1',
            time: '2022-09-14T20:33:50Z',
            fieldsType: 'FieldsV1',
            fieldsV1: {
              'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} } },
              'f:spec': {
                'f:containers': {
                  'k:{"name":"nginx"}': {
                    '.': {},
                    'f:image': {},
                    'f:imagePullPolicy': {},
                    'f:name': {},
                    'f:ports': {
                      '.': {},
                      'k:{"containerPort":80,"protocol":"TCP"}': {
                        '.': {},
                        'f:containerPort': {},
                        'f:name': {},
                        'f:protocol': {},
                      },
                    },
                    'f:resources': {},
                    'f:terminationMessagePath': {},
                    'f:terminationMessagePolicy': {},
                  },
                },
                'f:dnsPolicy': {},
                'f:enableServiceLinks': {},
                'f:restartPolicy': {},
                'f:schedulerName': {},
                'f:securityContext': {},
                'f:terminationGracePeriodSeconds': {},
              },
            },
          },
          {
            manager: 'kubelet',
            operation: 'Update',
            apiVersion: 'v1',
            time: '2022-09-14T20:33:52Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:status': { 'f:phase': {} } },
            subresource: 'status',
          },
        ],
      },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.14.2',
            ports: [{ containerPort: 80, name: 'web', protocol: 'TCP' }],
            resources: {},
            imagePullPolicy: 'IfNotPresent',
          },
        ],
        restartPolicy: 'Always',
        dnsPolicy: 'ClusterFirst',
      },
      status: { phase: 'Running' },
    };
    const [attributed] = attributeDrift(diffResource(desired, live), [live]);
    expect(attributed).toMatchObject({
      item: { path: 'spec.containers[name=nginx].ports[containerPort=80].name', observed: 'web' },
      actor: { manager: 'kubectl-client-side-apply', operation: 'Update', basis: 'field-owner' },
      since: '2022-09-14T20:33:50Z',
    });
  });

  it('resolves a set item (`v:`) by value', () => {
    const desired: Resource = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'n', finalizers: ['example.com/protect'] },
      data: { a: '1' },
    };
    const live = {
      ...structuredClone(desired),
      metadata: {
        name: 'c',
        namespace: 'n',
        finalizers: ['example.com/protect', 'evil.example/block'],
        managedFields: [
          {
            manager: FLOTILLA_FIELD_MANAGER,
            operation: 'Apply',
            time: '2025-03-01T10:00:00Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:finalizers': { 'v:"example.com/protect"': {} } } },
          },
          {
            manager: 'finalizer-bot',
            operation: 'Update',
            time: '2025-03-01T11:00:00Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:metadata': { 'f:finalizers': { '.': {}, 'v:"evil.example/block"': {} } } },
          },
        ],
      },
    };
    expect(attributeDrift(diffResource(desired, live), [live])).toEqual([
      expect.objectContaining({
        item: expect.objectContaining({ path: 'metadata.finalizers[1]', change: 'added' }),
        actor: { manager: 'finalizer-bot', operation: 'Update', basis: 'field-owner' },
      }),
    ]);
  });

  it.each<[string, (live: ReturnType<typeof liveWeb>) => unknown]>([
    [
      'no managedFields (manifests-dir)',
      (live) => {
        delete live.metadata.managedFields;
      },
    ],
    [
      'managedFields nobody owning the field',
      (live) => {
        dropAgentField(live, 'f:spec', 'f:replicas');
      },
    ],
    [
      'malformed entries only',
      (live) => {
        live.metadata.managedFields = [
          { operation: 'Update', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
          { manager: 'x', fieldsType: 'FieldsV2', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
          { manager: 'y', fieldsV1: 'f:spec' },
          'junk',
        ];
      },
    ],
  ])('gives the unknown actor with %s', (_name, mutate) => {
    const live = liveWeb();
    live.spec.replicas = 2;
    mutate(live);
    const attributed = attributeOne(live);
    expect(attributed.actor).toEqual({ manager: 'unknown', operation: 'unknown', basis: 'none' });
    expect(attributed).not.toHaveProperty('since');
  });

  it('gives deleted and extra resources the unknown actor, and reads the hold annotation of what is there', () => {
    const extra = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'old', namespace: 'shop', annotations: { 'flotilla.io/hold': 'INC-4411' }, managedFields: [] },
    };
    const items = diffResources([desiredWeb()], [extra], [extra]);
    expect(attributeDrift(items, [extra])).toEqual([
      { item: items[0], actor: { manager: 'unknown', operation: 'unknown', basis: 'none' } },
      {
        item: items[1],
        actor: { manager: 'unknown', operation: 'unknown', basis: 'none' },
        annotationHold: 'INC-4411',
      },
    ]);
  });

  it('takes an item whose path does not parse without failing', () => {
    const item: DriftItem = {
      resourceKey: 'Deployment.apps/shop/web',
      kind: 'Deployment',
      path: 'spec..x',
      change: 'modified',
    };
    expect(attributeDrift([item], [liveWeb()])[0]?.actor.basis).toBe('none');
  });

  it('treats selfManagers as Flotilla', () => {
    const live = liveWeb();
    live.spec.replicas = 4;
    dropAgentField(live, 'f:spec', 'f:replicas');
    const fields = { 'f:spec': { 'f:replicas': {} } };
    withEntry(live, {
      manager: 'my-flotilla',
      operation: 'Apply',
      time: '2025-03-02T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    });
    withEntry(live, {
      manager: 'someone',
      operation: 'Update',
      time: '2025-03-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    });
    const items = diffResource(desiredWeb(), live);
    expect(attributeDrift(items, [live])[0]?.actor.manager).toBe('my-flotilla');
    expect(attributeDrift(items, [live], { selfManagers: ['my-flotilla'] })[0]?.actor.manager).toBe('someone');
  });
});
