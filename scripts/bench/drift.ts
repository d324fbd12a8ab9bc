/**
 * Drift benchmark: diff + attribute + classify over 5,000 resources of realistic size, as one
 * agent sync pass would. Run with `npx tsx --conditions=@flotilla/source scripts/bench/drift.ts`. The last line printed is one
 * JSON object; the goal is diff_classify_ms under 200.
 */
import { performance } from 'node:perf_hooks';
import type { Resource } from '../../packages/protocol/src/index.ts';
import {
  attributeDrift,
  classifyDrift,
  defaultDriftPolicy,
  diffResources,
  FLOTILLA_FIELD_MANAGER,
  liveResourceKey,
  type DriftDecision,
  type LiveObject,
} from '../../packages/protocol/src/drift/index.ts';

const RESOURCES = 5000;
const DRIFT_EVERY = 20; // ~5% of resources drift
const EXTRAS = 10;
const WARMUP_RUNS = 3;
const RUNS = 11;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- the generator builds and edits
   synthetic Kubernetes objects of many kinds in place, as loose JSON; typing every shape it touches
   would add casts, not checks. The measured code below takes them as typed LiveObjects. */
type Json = Record<string, any>;

// A fixed-seed generator keeps every run of the benchmark on the same data.
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20250301);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const word = (length: number): string =>
  Array.from({ length }, () => pick('abcdefghijklmnopqrstuvwxyz0123456789'.split(''))).join('');

const TEAMS = ['payments', 'search', 'checkout', 'catalog', 'identity'];

function labels(app: string): Json {
  return {
    app,
    'app.kubernetes.io/name': app,
    'app.kubernetes.io/part-of': pick(TEAMS),
    'app.kubernetes.io/version': `1.${Math.floor(random() * 40)}.0`,
    tier: pick(['web', 'worker', 'api']),
  };
}

function container(name: string, image: string, envCount: number, port: number): Json {
  return {
    name,
    image,
    args: ['--listen', `:${port}`, '--log-format=json'],
    ports: [
      { containerPort: port, name: 'http' },
      { containerPort: port + 1, name: 'metrics' },
    ],
    env: Array.from({ length: envCount }, (_, i) => ({ name: `SETTING_${i}`, value: word(12) })).concat([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } } as never,
    ]),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port }, periodSeconds: 10 },
    readinessProbe: { httpGet: { path: '/ready', port }, periodSeconds: 5 },
    volumeMounts: [
      { name: 'config', mountPath: `/etc/${name}` },
      { name: 'tls', mountPath: '/etc/tls', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

function deployment(i: number): Resource {
  const name = `svc-${i}`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: `team-${i % 40}`,
      labels: labels(name),
      annotations: { 'flotilla.io/release': `rel-${i % 7}`, owner: pick(TEAMS), 'prometheus.io/scrape': 'true' },
    },
    spec: {
      replicas: 2 + (i % 4),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, tier: 'web' }, annotations: { 'prometheus.io/port': '8081' } },
        spec: {
          serviceAccountName: name,
          containers: [
            container('app', `ghcr.io/acme/${name}:1.${i % 30}.0`, 10, 8080),
            container('proxy', 'ghcr.io/acme/envoy:1.30.1', 4, 9000),
            container('metrics', 'ghcr.io/acme/exporter:0.9.2', 3, 9100),
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            { name: 'tls', secret: { secretName: `${name}-tls` } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}

function configMap(i: number): Resource {
  const data: Json = {};
  for (let k = 0; k < 8; k++)
    data[`key-${k}.yaml`] =
      `setting: ${word(40)}\nlist:\n${Array.from({ length: 6 }, () => `  - ${word(30)}`).join('\n')}\n`;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cfg-${i}`, namespace: `team-${i % 40}`, labels: labels(`cfg-${i}`) },
    data,
  };
}

function service(i: number): Resource {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: `team-${i % 40}`, labels: labels(`svc-${i}`) },
    spec: {
      selector: { app: `svc-${i}` },
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'metrics', port: 8081, targetPort: 8081 },
      ],
    },
  };
}

function rbac(i: number): Resource {
  const kinds = ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'] as const;
  const kind = kinds[i % 4] as (typeof kinds)[number];
  const metadata = kind.startsWith('Cluster')
    ? { name: `rbac-${i}` }
    : { name: `rbac-${i}`, namespace: `team-${i % 40}` };
  if (kind === 'Role' || kind === 'ClusterRole') {
    return {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind,
      metadata,
      rules: [
        { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    };
  }
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata,
    subjects: [
      { kind: 'ServiceAccount', name: `svc-${i}`, namespace: `team-${i % 40}` },
      { kind: 'Group', name: `team-${i % 40}-oncall`, apiGroup: 'rbac.authorization.k8s.io' },
    ],
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole',
      name: `rbac-${i - 1}`,
    },
  };
}

function desiredSet(): Resource[] {
  const out: Resource[] = [];
  for (let i = 0; i < RESOURCES; i++) {
    const slot = i % 10;
    if (slot < 4) out.push(deployment(i));
    else if (slot < 7) out.push(configMap(i));
    else if (slot < 9) out.push(service(i));
    else out.push(rbac(i));
  }
  return out;
}

// FieldsV1 for what an applier set, as the API server records it: keyed lists by their keys,
// other lists atomic.
const LIST_KEYS: Record<string, (item: Json) => Json | undefined> = {
  containers: (item) => ({ name: item.name }),
  env: (item) => ({ name: item.name }),
  volumes: (item) => ({ name: item.name }),
  volumeMounts: (item) => ({ mountPath: item.mountPath }),
  ports: (item) =>
    item.containerPort !== undefined
      ? { containerPort: item.containerPort, protocol: item.protocol ?? 'TCP' }
      : { port: item.port, protocol: item.protocol ?? 'TCP' },
};

function fieldsOf(value: Json): Json {
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) out[`f:${key}`] = childFields(key, child);
  return out;
}

function childFields(key: string, value: unknown): Json {
  if (Array.isArray(value)) {
    const keyOf = LIST_KEYS[key];
    if (keyOf === undefined || !value.every((item) => typeof item === 'object' && item !== null)) return {};
    const out: Json = {};
    for (const item of value as Json[]) {
      const itemKey = keyOf(item) as Json;
      const sorted = Object.fromEntries(Object.entries(itemKey).sort(([a], [b]) => a.localeCompare(b)));
      out[`k:${JSON.stringify(sorted)}`] = { '.': {}, ...fieldsOf(item) };
    }
    return out;
  }
  if (typeof value === 'object' && value !== null) return fieldsOf(value);
  return {};
}

function liveOf(desired: Resource, index: number): Json {
  const live: Json = structuredClone(desired);
  const { name: _n, namespace: _ns, ...ownedMetadata } = desired.metadata;
  const owned: Json = { ...desired, metadata: ownedMetadata };
  delete owned.apiVersion;
  delete owned.kind;
  live.metadata.uid = `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
  live.metadata.resourceVersion = String(100_000 + index);
  live.metadata.creationTimestamp = '2025-02-20T08:12:09Z';
  live.metadata.managedFields = [
    {
      manager: FLOTILLA_FIELD_MANAGER,
      operation: 'Apply',
      apiVersion: desired.apiVersion,
      time: '2025-03-01T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsOf(owned),
    },
  ];
  if (desired.kind === 'Deployment') {
    live.metadata.generation = 3;
    live.metadata.annotations['deployment.kubernetes.io/revision'] = '3';
    const pod = live.spec.template.spec;
    Object.assign(pod, {
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      securityContext: {},
      schedulerName: 'default-scheduler',
    });
    for (const c of pod.containers) {
      Object.assign(c, {
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
      });
      for (const p of c.ports) p.protocol = 'TCP';
      for (const probe of [c.livenessProbe, c.readinessProbe])
        Object.assign(
          probe,
          { timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
          { httpGet: { ...probe.httpGet, scheme: 'HTTP' } },
        );
      c.resources.limits.cpu = '500m';
    }
    for (const v of pod.volumes) {
      if (v.configMap) v.configMap.defaultMode = 420;
      if (v.secret) v.secret.defaultMode = 420;
    }
    live.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
    live.spec.revisionHistoryLimit = 10;
    live.spec.progressDeadlineSeconds = 600;
    const replicas = (desired.spec as Json).replicas as number;
    live.status = { observedGeneration: 3, replicas, readyReplicas: replicas, availableReplicas: replicas };
    live.metadata.managedFields.push({
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2025-03-01T10:00:41Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:status': { 'f:availableReplicas': {}, 'f:readyReplicas': {}, 'f:replicas': {} } },
      subresource: 'status',
    });
  }
  if (desired.kind === 'Service') {
    live.spec.clusterIP = `10.96.${index % 250}.${index % 200}`;
    live.spec.type = 'ClusterIP';
    live.spec.sessionAffinity = 'None';
    for (const p of live.spec.ports) p.protocol = 'TCP';
  }
  return live;
}

function entry(manager: string, fieldsV1: Json, subresource?: string): Json {
  return {
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    time: '2025-03-01T11:30:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1,
    ...(subresource === undefined ? {} : { subresource }),
  };
}

const APP = 'k:{"name":"app"}';
const inApp = (inner: Json): Json => ({
  'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { [APP]: inner } } } },
});

/** Makes one resource drift the way clusters do; returns false to delete its live object. */
function drift(live: Json, n: number): boolean {
  switch (live.kind) {
    case 'Deployment': {
      const app = live.spec.template.spec.containers[0];
      switch (n % 5) {
        case 0:
          live.spec.replicas += 3;
          live.metadata.managedFields.push(
            entry('kube-controller-manager', { 'f:spec': { 'f:replicas': {} } }, 'scale'),
          );
          return true;
        case 1:
          app.image = 'evil.example/miner:latest';
          live.metadata.managedFields.push(entry('kubectl-set', inApp({ 'f:image': {} })));
          return true;
        case 2:
          app.env[0].value = 'debug';
          live.metadata.managedFields.push(
            entry('kubectl-edit', inApp({ 'f:env': { 'k:{"name":"SETTING_0"}': { 'f:value': {} } } })),
          );
          return true;
        case 3:
          app.securityContext.privileged = true;
          live.spec.template.spec.volumes.push({ name: 'host', hostPath: { path: '/' } });
          live.metadata.managedFields.push(
            entry('kubectl-patch', inApp({ 'f:securityContext': { 'f:privileged': {} } })),
          );
          return true;
        default:
          return false;
      }
    }
    case 'ConfigMap':
      if (n % 3 === 0) return false;
      live.data['key-0.yaml'] = 'setting: changed-by-hand\n';
      live.metadata.managedFields.push(entry('kubectl-edit', { 'f:data': { 'f:key-0.yaml': {} } }));
      return true;
    case 'Service':
      live.spec.ports[0].targetPort = 9999;
      live.metadata.managedFields.push(
        entry('helm', { 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { 'f:targetPort': {} } } } }),
      );
      return true;
    default:
      if (Array.isArray(live.subjects))
        live.subjects.push({ kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' });
      else live.rules[0].verbs.push('delete');
      live.metadata.managedFields.push(
        entry('kubectl-edit', Array.isArray(live.subjects) ? { 'f:subjects': {} } : { 'f:rules': {} }),
      );
      return true;
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call */

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const desired = desiredSet();
const live: LiveObject[] = [];
let drifted = 0;
const driftedOfKind = new Map<string, number>();
desired.forEach((resource, i) => {
  const object = liveOf(resource, i);
  // One resource in every DRIFT_EVERY, rotating through the kinds' slots so that every kind drifts.
  if (i % DRIFT_EVERY === Math.floor(i / DRIFT_EVERY) % 10) {
    drifted++;
    const n = driftedOfKind.get(resource.kind) ?? 0;
    driftedOfKind.set(resource.kind, n + 1);
    if (!drift(object, n)) return;
  }
  live.push(object);
});
const extra: LiveObject[] = Array.from({ length: EXTRAS }, (_, i) => liveOf(configMap(RESOURCES + i), RESOURCES + i));
live.push(...extra);
// The agent keeps what it observed indexed by key; build that once, as it would.
const liveByKey = new Map<string, LiveObject>();
for (const object of live) liveByKey.set(liveResourceKey(object) as string, object);

const context = { now: new Date('2025-03-01T12:00:00Z'), lastAppliedAt: new Date('2025-03-01T10:00:00Z'), holds: [] };

function pass(): DriftDecision[] {
  const items = diffResources(desired, liveByKey, extra);
  return classifyDrift(attributeDrift(items, liveByKey), defaultDriftPolicy, context);
}

let decisions: DriftDecision[] = [];
for (let i = 0; i < WARMUP_RUNS; i++) decisions = pass();
const times: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  decisions = pass();
  times.push(performance.now() - start);
}

const byClass: Record<string, number> = {};
for (const decision of decisions)
  byClass[`${decision.class}/${decision.action}`] = (byClass[`${decision.class}/${decision.action}`] ?? 0) + 1;
const rssMb = process.memoryUsage().rss / 2 ** 20;
const ms = median(times);

console.log(`resources: ${desired.length} desired (${drifted} drifted, ${EXTRAS} extra), ${live.length} live objects`);
console.log(`drift items: ${decisions.length} ${JSON.stringify(byClass)}`);
console.log(`runs (ms): ${times.map((t) => t.toFixed(1)).join(' ')}`);
console.log(`median ${ms.toFixed(1)} ms (goal < 200 ms), rss ${rssMb.toFixed(1)} MB`);
console.log(
  JSON.stringify({
    name: 'drift',
    resources: desired.length,
    diff_classify_ms: Number(ms.toFixed(1)),
    agent_rss_mb: Number(rssMb.toFixed(1)),
  }),
);
