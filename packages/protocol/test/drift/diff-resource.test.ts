import { describe, expect, it } from 'vitest';
import { diffResource, REDACTED, type DriftItem } from '../../src/drift/index.ts';
import type { Resource } from '../../src/index.ts';
import { desiredWeb, liveWeb } from './fixtures/web-deployment.ts';

type Live = ReturnType<typeof liveWeb>;
const KEY = 'Deployment.apps/shop/web';

function diffWith(mutate: (live: Live) => void, desired: Resource = desiredWeb()): DriftItem[] {
  const live = liveWeb();
  mutate(live);
  return diffResource(desired, live);
}

const app = (live: Live) => live.spec.template.spec.containers[0];
const pod = (live: Live) => live.spec.template.spec;

describe('diffResource: what is not drift', () => {
  it('finds nothing between a manifest and its live object with defaults, status and server metadata', () => {
    expect(diffResource(desiredWeb(), liveWeb())).toEqual([]);
  });

  it.each<[string, (live: Live) => void]>([
    [
      'status',
      (live) => {
        live.status = { replicas: 0, conditions: [] };
      },
    ],
    [
      'metadata.managedFields',
      (live) => {
        live.metadata.managedFields = [];
      },
    ],
    [
      'metadata.resourceVersion',
      (live) => {
        live.metadata.resourceVersion = '1';
      },
    ],
    [
      'metadata.uid',
      (live) => {
        live.metadata.uid = 'other';
      },
    ],
    [
      'metadata.creationTimestamp',
      (live) => {
        live.metadata.creationTimestamp = '2020-01-01T00:00:00Z';
      },
    ],
    [
      'metadata.generation',
      (live) => {
        live.metadata.generation = 99;
      },
    ],
    [
      'metadata.selfLink',
      (live) => {
        live.metadata.selfLink = '/apis/apps/v1/namespaces/shop/deployments/web';
      },
    ],
    [
      'metadata.deletionTimestamp',
      (live) => {
        live.metadata.deletionTimestamp = '2025-03-02T00:00:00Z';
      },
    ],
    [
      'the last-applied-configuration annotation',
      (live) => {
        (live.metadata.annotations as Record<string, string>)['kubectl.kubernetes.io/last-applied-configuration'] =
          '{"kind":"Deployment"}';
      },
    ],
    [
      'an annotation another tool added',
      (live) => {
        (live.metadata.annotations as Record<string, string>)['kubectl.kubernetes.io/restartedAt'] =
          '2025-03-01T11:00:00Z';
      },
    ],
    [
      'a label another tool added',
      (live) => {
        (live.metadata.labels as Record<string, string>).extra = 'x';
      },
    ],
    [
      'defaulted fields changing (imagePullPolicy, strategy)',
      (live) => {
        app(live).imagePullPolicy = 'Always';
        live.spec.strategy = { type: 'Recreate' };
      },
    ],
    [
      'an env var the manifest does not name',
      (live) => {
        app(live).env.push({ name: 'EXTRA', value: '1' });
      },
    ],
    [
      'a non-hostPath volume the manifest does not name',
      (live) => {
        pod(live).volumes.push({ name: 'cache', emptyDir: {} });
      },
    ],
    [
      'env items in another order',
      (live) => {
        app(live).env.reverse();
      },
    ],
    [
      'containers in another order',
      (live) => {
        pod(live).containers.reverse();
      },
    ],
    [
      'quantities in canonical form (1000m is 1, 0.5Gi is 512Mi)',
      (live) => {
        app(live).resources.limits = { cpu: 1, memory: '536870912' };
      },
    ],
  ])('ignores %s', (_name, mutate) => {
    expect(diffWith(mutate)).toEqual([]);
  });

  it('ignores platform fields a desired manifest carries, as one exported from a live object does', () => {
    const desired = desiredWeb();
    Object.assign(desired.metadata, {
      uid: 'abc',
      resourceVersion: '7',
      generation: 1,
      creationTimestamp: '2020-01-01T00:00:00Z',
      managedFields: [{ manager: 'x' }],
    });
    Object.assign(desired, { status: { replicas: 9 } });
    (desired.metadata.annotations as Record<string, string>)['kubectl.kubernetes.io/last-applied-configuration'] = '{}';
    expect(diffResource(desired, liveWeb())).toEqual([]);
  });

  it('treats an empty desired map as satisfied by an absent one, and a desired null as no opinion', () => {
    const desired = desiredWeb();
    desired.metadata.annotations = {};
    Object.assign(desired.spec as object, { minReadySeconds: null });
    expect(
      diffWith((live) => {
        delete live.metadata.annotations;
      }, desired),
    ).toEqual([]);
  });
});

describe('diffResource: paths and changes', () => {
  it.each<[string, (live: Live) => void, Partial<DriftItem>[]]>([
    [
      'a replica count',
      (live) => {
        live.spec.replicas = 5;
      },
      [{ path: 'spec.replicas', change: 'modified', desired: 3, observed: 5 }],
    ],
    [
      'an image, by container name',
      (live) => {
        app(live).image = 'ghcr.io/acme/web:1.4.3';
      },
      [
        {
          path: 'spec.template.spec.containers[name=app].image',
          change: 'modified',
          desired: 'ghcr.io/acme/web:1.4.2',
          observed: 'ghcr.io/acme/web:1.4.3',
        },
      ],
    ],
    [
      'an env value, by env name',
      (live) => {
        app(live).env[0].value = 'debug';
      },
      [
        {
          path: 'spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value',
          change: 'modified',
          desired: 'info',
          observed: 'debug',
        },
      ],
    ],
    [
      'an env var removed',
      (live) => {
        app(live).env.splice(1, 1);
      },
      [
        {
          path: 'spec.template.spec.containers[name=app].env[name=DB_HOST]',
          change: 'removed',
          desired: { name: 'DB_HOST', value: 'db.shop.svc' },
        },
      ],
    ],
    [
      'a port, by containerPort',
      (live) => {
        app(live).ports[0].name = 'web';
      },
      [
        {
          path: 'spec.template.spec.containers[name=app].ports[containerPort=8080].name',
          change: 'modified',
          desired: 'http',
          observed: 'web',
        },
      ],
    ],
    [
      'a volume, by name',
      (live) => {
        pod(live).volumes[0].configMap.name = 'other';
      },
      [{ path: 'spec.template.spec.volumes[name=config].configMap.name', change: 'modified' }],
    ],
    [
      'a volume mount, by mountPath',
      (live) => {
        app(live).volumeMounts[0].name = 'other';
      },
      [{ path: 'spec.template.spec.containers[name=app].volumeMounts[mountPath=/etc/web].name', change: 'modified' }],
    ],
    [
      'a container removed',
      (live) => {
        pod(live).containers.splice(1, 1);
      },
      [{ path: 'spec.template.spec.containers[name=proxy]', change: 'removed' }],
    ],
    [
      'a label value',
      (live) => {
        (live.metadata.labels as Record<string, string>)['app.kubernetes.io/part-of'] = 'other';
      },
      [{ path: 'metadata.labels["app.kubernetes.io/part-of"]', change: 'modified' }],
    ],
    [
      'a cpu limit really changed',
      (live) => {
        app(live).resources.limits.cpu = '2';
      },
      [
        {
          path: 'spec.template.spec.containers[name=app].resources.limits.cpu',
          change: 'modified',
          desired: '1000m',
          observed: '2',
        },
      ],
    ],
    [
      'every label removed, one item per label',
      (live) => {
        delete live.metadata.labels;
      },
      [
        { path: 'metadata.labels.app', change: 'removed', desired: 'web' },
        { path: 'metadata.labels["app.kubernetes.io/part-of"]', change: 'removed', desired: 'shop' },
      ],
    ],
    [
      'a type changed',
      (live) => {
        live.spec.replicas = '3';
      },
      [{ path: 'spec.replicas', change: 'modified', desired: 3, observed: '3' }],
    ],
    [
      'a struct value removed (emptyDir {} is a value, not an empty map)',
      (live) => {
        pod(live).volumes[0] = { name: 'config' };
      },
      [{ path: 'spec.template.spec.volumes[name=config].configMap', change: 'removed' }],
    ],
  ])('reports %s', (_name, mutate, expected) => {
    expect(diffWith(mutate)).toEqual(
      expected.map((item) => expect.objectContaining({ resourceKey: KEY, kind: 'Deployment', ...item })),
    );
  });

  it('compares ordered lists by index, reporting extra and missing items', () => {
    const desired = desiredWeb();
    Object.assign((desired.spec as any).template.spec.containers[0], { args: ['--port', '8080'] });
    expect(
      diffWith((live) => {
        app(live).args = ['--port', '9090', '--debug'];
      }, desired),
    ).toEqual([
      expect.objectContaining({
        path: 'spec.template.spec.containers[name=app].args[1]',
        change: 'modified',
        desired: '8080',
        observed: '9090',
      }),
      expect.objectContaining({
        path: 'spec.template.spec.containers[name=app].args[2]',
        change: 'added',
        observed: '--debug',
      }),
    ]);
    expect(
      diffWith((live) => {
        app(live).args = ['--port'];
      }, desired),
    ).toEqual([
      expect.objectContaining({
        path: 'spec.template.spec.containers[name=app].args[1]',
        change: 'removed',
        desired: '8080',
      }),
    ]);
  });

  it('keys Service ports by port, and by port and protocol where a number repeats', () => {
    const desired: Resource = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dns', namespace: 'kube-system' },
      spec: {
        selector: { k8s: 'dns' },
        ports: [
          { port: 53, protocol: 'UDP', name: 'dns' },
          { port: 53, protocol: 'TCP', name: 'dns-tcp' },
        ],
      },
    };
    const live = structuredClone(desired) as any;
    live.spec.clusterIP = '10.96.0.10';
    live.spec.ports = [
      { port: 53, protocol: 'TCP', name: 'dns-tcp', targetPort: 53 },
      { port: 53, protocol: 'UDP', name: 'dns-udp', targetPort: 53 },
    ];
    expect(diffResource(desired, live)).toEqual([
      expect.objectContaining({
        resourceKey: 'Service/kube-system/dns',
        path: 'spec.ports[port=53,protocol=UDP].name',
        change: 'modified',
        desired: 'dns',
        observed: 'dns-udp',
      }),
    ]);
  });

  it('reports RBAC subjects added to a binding by index', () => {
    const desired: Resource = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'web-read', namespace: 'shop' },
      subjects: [{ kind: 'ServiceAccount', name: 'web', namespace: 'shop' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read' },
    };
    const live = structuredClone(desired) as any;
    live.subjects.push({ kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' });
    expect(diffResource(desired, live)).toEqual([
      expect.objectContaining({
        path: 'subjects[1]',
        change: 'added',
        observed: { kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' },
      }),
    ]);
  });

  it('leaves out paths the caller ignores', () => {
    const live = liveWeb();
    live.spec.replicas = 9;
    app(live).image = 'ghcr.io/acme/web:9';
    expect(diffResource(desiredWeb(), live, { ignore: ['spec.replicas'] })).toEqual([
      expect.objectContaining({ path: 'spec.template.spec.containers[name=app].image' }),
    ]);
  });

  it('reports a missing live object as a deleted resource', () => {
    expect(diffResource(desiredWeb(), undefined)).toEqual([
      { resourceKey: KEY, kind: 'Deployment', path: '', change: 'deleted-resource' },
    ]);
    expect(diffResource(desiredWeb(), null)).toEqual([
      { resourceKey: KEY, kind: 'Deployment', path: '', change: 'deleted-resource' },
    ]);
  });

  it('refuses to compare a resource with another one', () => {
    const live = liveWeb();
    live.metadata.name = 'api';
    expect(() => diffResource(desiredWeb(), live)).toThrow(TypeError);
  });
});

describe('diffResource: security-relevant additions', () => {
  it.each<[string, (live: Live) => void, Partial<DriftItem>]>([
    [
      'an added container',
      (live) => {
        pod(live).containers.push({ name: 'miner', image: 'evil.io/miner' });
      },
      {
        path: 'spec.template.spec.containers[name=miner]',
        change: 'added',
        observed: { name: 'miner', image: 'evil.io/miner' },
      },
    ],
    [
      'an added init container',
      (live) => {
        pod(live).initContainers = [{ name: 'setup', image: 'busybox' }];
      },
      { path: 'spec.template.spec.initContainers[name=setup]', change: 'added' },
    ],
    [
      'privileged on a container',
      (live) => {
        app(live).securityContext.privileged = true;
      },
      { path: 'spec.template.spec.containers[name=app].securityContext.privileged', change: 'added', observed: true },
    ],
    [
      'a securityContext on a container that had none',
      (live) => {
        pod(live).containers[1].securityContext = { capabilities: { add: ['NET_ADMIN'] } };
      },
      {
        path: 'spec.template.spec.containers[name=proxy].securityContext.capabilities.add',
        change: 'added',
        observed: ['NET_ADMIN'],
      },
    ],
    [
      'an added capability beside the desired drop',
      (live) => {
        app(live).securityContext.capabilities.add = ['SYS_ADMIN'];
      },
      {
        path: 'spec.template.spec.containers[name=app].securityContext.capabilities.add',
        change: 'added',
        observed: ['SYS_ADMIN'],
      },
    ],
    [
      'a hostPath volume',
      (live) => {
        pod(live).volumes.push({ name: 'root', hostPath: { path: '/' } });
      },
      { path: 'spec.template.spec.volumes[name=root]', change: 'added' },
    ],
    [
      'hostPath on a desired volume',
      (live) => {
        pod(live).volumes[0].hostPath = { path: '/etc' };
      },
      { path: 'spec.template.spec.volumes[name=config].hostPath', change: 'added', observed: { path: '/etc' } },
    ],
    [
      'hostNetwork',
      (live) => {
        pod(live).hostNetwork = true;
      },
      { path: 'spec.template.spec.hostNetwork', change: 'added', observed: true },
    ],
    [
      'hostPID',
      (live) => {
        pod(live).hostPID = true;
      },
      { path: 'spec.template.spec.hostPID', change: 'added', observed: true },
    ],
    [
      'a pod securityContext running as root',
      (live) => {
        pod(live).securityContext = { runAsUser: 0 };
      },
      { path: 'spec.template.spec.securityContext.runAsUser', change: 'added', observed: 0 },
    ],
  ])('reports %s although the manifest does not mention it', (_name, mutate, expected) => {
    expect(diffWith(mutate)).toEqual([expect.objectContaining({ resourceKey: KEY, ...expected })]);
  });

  it('reports a desired value weakened inside a securityContext through the main walk', () => {
    expect(
      diffWith((live) => {
        app(live).securityContext.allowPrivilegeEscalation = true;
      }),
    ).toEqual([
      expect.objectContaining({
        path: 'spec.template.spec.containers[name=app].securityContext.allowPrivilegeEscalation',
        change: 'modified',
        desired: false,
        observed: true,
      }),
    ]);
  });

  it('looks at the pod spec of a Pod and of a CronJob too', () => {
    const pod: Resource = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'n' },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    };
    const livePod = structuredClone(pod) as any;
    livePod.spec.hostNetwork = true;
    expect(diffResource(pod, livePod)).toEqual([
      expect.objectContaining({ path: 'spec.hostNetwork', change: 'added' }),
    ]);

    const cron: Resource = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'c', namespace: 'n' },
      spec: {
        schedule: '0 * * * *',
        jobTemplate: {
          spec: { template: { spec: { containers: [{ name: 'job', image: 'x' }], restartPolicy: 'OnFailure' } } },
        },
      },
    };
    const liveCron = structuredClone(cron) as any;
    liveCron.spec.jobTemplate.spec.template.spec.containers[0].securityContext = { privileged: true };
    expect(diffResource(cron, liveCron)).toEqual([
      expect.objectContaining({
        path: 'spec.jobTemplate.spec.template.spec.containers[name=job].securityContext.privileged',
        change: 'added',
      }),
    ]);
  });
});

describe('diffResource: Secrets', () => {
  const secret = (): Resource => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'shop' },
    type: 'Opaque',
    stringData: { password: 'hunter2' },
    data: { user: Buffer.from('app').toString('base64') },
  });

  it('compares stringData as the data the API server stores', () => {
    const live = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: 'shop', uid: 'u' },
      type: 'Opaque',
      data: { user: Buffer.from('app').toString('base64'), password: Buffer.from('hunter2').toString('base64') },
    };
    expect(diffResource(secret(), live)).toEqual([]);
  });

  it('never puts a Secret value into an item', () => {
    const live = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: 'shop' },
      type: 'Opaque',
      data: { user: Buffer.from('root').toString('base64'), password: Buffer.from('letmein').toString('base64') },
    };
    const items = diffResource(secret(), live);
    expect(items).toEqual([
      {
        resourceKey: 'Secret/shop/db',
        kind: 'Secret',
        path: 'data.user',
        change: 'modified',
        desired: REDACTED,
        observed: REDACTED,
      },
      {
        resourceKey: 'Secret/shop/db',
        kind: 'Secret',
        path: 'data.password',
        change: 'modified',
        desired: REDACTED,
        observed: REDACTED,
      },
    ]);
    expect(JSON.stringify(items)).not.toMatch(/hunter2|letmein|aHVudGVyMg|bGV0bWVpbg/);
  });
});
