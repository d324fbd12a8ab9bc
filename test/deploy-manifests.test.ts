import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { Resource } from '@flotilla/protocol';
import {
  KubeClient,
  KubernetesDriver,
  LeaseElector,
  RUN_ENVIRONMENT,
  runConfig,
  SecretAgentStore,
  staticToken,
  type ClusterConnection,
} from '@flotilla/agent';
import { serveConfig } from '../packages/hub/src/config.ts';
import { agentManifests } from '../packages/hub/src/cli/commands/install.ts';
import { buildProgram } from '../packages/hub/src/cli/program.ts';
import { startKubeApiServer, type KubeApiServer } from './fixtures/kube-apiserver/index.ts';
import { tempDir } from './fixtures/temp-dir.ts';

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TOKEN = 'deploy-token';

type Doc = Record<string, any>;

function documents(text: string, file: string): Doc[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as Doc;
    })
    .filter((doc) => doc !== null);
}

/** The manifests of deploy/<part>, in the order its kustomization lists them. */
function manifests(part: 'agent' | 'hub'): Doc[] {
  const dir = join(DEPLOY, part);
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return kustomization.resources.flatMap((file) => documents(readFileSync(join(dir, file), 'utf8'), file));
}

function one(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d['kind'] === kind && (name === undefined || d['metadata']['name'] === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
}

function container(workload: Doc): Doc {
  return workload['spec']['template']['spec']['containers'][0];
}

function asResource(doc: Doc): Resource {
  return doc as Resource;
}

// ----- a small RBAC authorizer, after the API server's request info and rule matching -----

interface RequestAttributes {
  readonly verb: string;
  readonly resourceRequest: boolean;
  readonly path: string;
  readonly group: string;
  readonly resource: string;
  readonly namespace: string;
  readonly name: string;
}

/** What the API server's RequestInfoFactory makes of a request (no watch, no deletecollection here). */
function requestAttributes(method: string, path: string): RequestAttributes {
  const parts = path.split('/').filter((p) => p !== '');
  const nonResource = {
    verb: method.toLowerCase(),
    resourceRequest: false,
    path,
    group: '',
    resource: '',
    namespace: '',
    name: '',
  };
  let rest: string[];
  let group: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else {
    return nonResource;
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2) rest = rest.slice(2);
  }
  const [resource, name = '', subresource] = rest;
  const named = name !== '';
  const verb =
    (
      {
        GET: named ? 'get' : 'list',
        POST: 'create',
        PUT: 'update',
        PATCH: 'patch',
        DELETE: named ? 'delete' : 'deletecollection',
      } as Record<string, string>
    )[method] ?? method.toLowerCase();
  // As the API server does, GET /api/v1/namespaces/shop is resource namespaces, name shop, in namespace shop.
  return {
    verb,
    resourceRequest: true,
    path,
    group,
    resource: subresource === undefined ? resource! : `${resource}/${subresource}`,
    namespace,
    name,
  };
}

interface PolicyRule {
  readonly apiGroups?: string[];
  readonly resources?: string[];
  readonly resourceNames?: string[];
  readonly verbs: string[];
  readonly nonResourceURLs?: string[];
}

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!rule.verbs.includes('*') && !rule.verbs.includes(a.verb)) return false;
  if (!a.resourceRequest)
    return (rule.nonResourceURLs ?? []).some(
      (url) => url === a.path || (url.endsWith('*') && a.path.startsWith(url.slice(0, -1))),
    );
  if (rule.nonResourceURLs !== undefined) return false;
  const groups = rule.apiGroups ?? [];
  const resources = rule.resources ?? [];
  if (!groups.includes('*') && !groups.includes(a.group)) return false;
  if (!resources.includes('*') && !resources.includes(a.resource)) return false;
  // A rule naming objects never matches a create: the name is not known when it is authorized.
  return (
    rule.resourceNames === undefined ||
    rule.resourceNames.length === 0 ||
    (a.name !== '' && rule.resourceNames.includes(a.name))
  );
}

/** The rules that apply to the agent's service account, from the bindings in the manifests. */
function agentRules(
  docs: Doc[],
  serviceAccount: { name: string; namespace: string },
): { cluster: PolicyRule[]; namespaced: { namespace: string; rules: PolicyRule[] }[] } {
  const bindsAgent = (binding: Doc): boolean =>
    (binding['subjects'] as Doc[]).some(
      (s) =>
        s['kind'] === 'ServiceAccount' &&
        s['name'] === serviceAccount.name &&
        s['namespace'] === serviceAccount.namespace,
    );
  const cluster = docs
    .filter((d) => d['kind'] === 'ClusterRoleBinding' && bindsAgent(d))
    .flatMap((b) => one(docs, 'ClusterRole', b['roleRef']['name'])['rules'] as PolicyRule[]);
  const namespaced = docs
    .filter((d) => d['kind'] === 'RoleBinding' && bindsAgent(d))
    .map((b) => {
      const role = docs.find(
        (d) =>
          d['kind'] === b['roleRef']['kind'] &&
          d['metadata']['name'] === b['roleRef']['name'] &&
          (d['kind'] === 'ClusterRole' || d['metadata']['namespace'] === b['metadata']['namespace']),
      )!;
      return { namespace: b['metadata']['namespace'] as string, rules: role['rules'] as PolicyRule[] };
    });
  return { cluster, namespaced };
}

describe('deploy/: the manifests and container build files', () => {
  it('parses every manifest, and each kustomization lists every file of its folder', () => {
    for (const part of ['agent', 'hub'] as const) {
      const dir = join(DEPLOY, part);
      const files = readdirSync(dir)
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .sort();
      const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
      expect([...kustomization.resources].sort()).toEqual(files);
      const docs = manifests(part);
      const namespace = one(docs, 'Namespace')['metadata']['name'];
      for (const doc of docs) {
        expect(typeof doc['apiVersion'], JSON.stringify(doc['metadata'])).toBe('string');
        expect(typeof doc['metadata']['name']).toBe('string');
        const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(doc['kind']);
        expect(doc['metadata']['namespace'], `${doc['kind']} ${doc['metadata']['name']}`).toBe(
          clusterScoped ? undefined : namespace,
        );
      }
    }
  });

  it('sets on the DaemonSet exactly the environment `flotilla-agent run` reads, consistent with the other objects', () => {
    const docs = manifests('agent');
    const daemonSet = one(docs, 'DaemonSet', 'flotilla-agent');
    const agent = container(daemonSet);
    const env = agent['env'] as Doc[];
    // NODE_OPTIONS is Node's own and GLIBC_TUNABLES the C library's: the agent's memory
    // settings (docs/operations.md).
    const known = new Set<string>([...Object.values(RUN_ENVIRONMENT), 'NODE_OPTIONS', 'GLIBC_TUNABLES']);
    for (const variable of env)
      expect(known.has(variable['name']), `${variable['name']} is read by flotilla-agent run`).toBe(true);
    expect(new Set(env.map((e) => e['name'])).size).toBe(env.length);

    // The environment as the kubelet resolves it for a pod.
    const secret = one(docs, 'Secret', 'flotilla-agent-enrollment');
    const podEnv: Record<string, string> = {};
    for (const variable of env) {
      const from = variable['valueFrom'];
      if (from === undefined) podEnv[variable['name']] = variable['value'];
      else if (from['secretKeyRef'] !== undefined) {
        expect(from['secretKeyRef']).toMatchObject({ name: secret['metadata']['name'], key: 'token', optional: true });
        podEnv[variable['name']] = secret['stringData']['token'];
      } else {
        podEnv[variable['name']] = (
          {
            'metadata.namespace': 'flotilla-system',
            'metadata.name': 'flotilla-agent-x7k2p',
            'spec.nodeName': 'node-1',
          } as Record<string, string>
        )[from['fieldRef']['fieldPath']]!;
      }
    }
    const config = runConfig({}, podEnv);
    expect(config).toMatchObject({
      driver: 'kubernetes',
      leaderElection: true,
      namespace: 'flotilla-system',
      podName: 'flotilla-agent-x7k2p',
      nodeName: 'node-1',
    });
    expect(config.name).toBeUndefined();
    expect(config.trustRootPin).toBeUndefined();
    expect(agent['args']).toEqual(['run']);

    // The state directory and /tmp are writable volumes; everything else is read-only.
    const mounts = (agent['volumeMounts'] as Doc[]).map((m) => m['mountPath']);
    expect(mounts).toEqual(expect.arrayContaining([config.stateDir, '/tmp']));
    // The health endpoint is on the port the probes use.
    const port = (agent['ports'] as Doc[]).find((p) => p['name'] === 'health')!;
    expect(port['containerPort']).toBe(config.healthPort);
    expect(agent['livenessProbe']['httpGet']).toEqual({ path: '/healthz', port: 'health' });
    expect(agent['readinessProbe']['httpGet']).toEqual({ path: '/readyz', port: 'health' });
    expect(agent['startupProbe']['httpGet']).toEqual({ path: '/healthz', port: 'health' });

    // The Role names exactly the Lease and the Secret the agent uses by default.
    const role = one(docs, 'Role', 'flotilla-agent');
    const named = (role['rules'] as PolicyRule[]).flatMap((r) => r.resourceNames ?? []);
    expect(named.sort()).toEqual([config.identitySecret, config.leaseName].sort());
    expect(daemonSet['spec']['template']['spec']['serviceAccountName']).toBe(
      one(docs, 'ServiceAccount')['metadata']['name'],
    );
  });

  it('runs both workloads as non-root with a read-only root filesystem, no capabilities, and bounded resources', () => {
    for (const [part, kind] of [
      ['agent', 'DaemonSet'],
      ['hub', 'Deployment'],
    ] as const) {
      const workload = one(manifests(part), kind);
      const pod = workload['spec']['template']['spec'];
      expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const c = container(workload);
      expect(c['securityContext']).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(Object.keys(c['resources']['requests']).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(c['resources']['limits']).sort()).toEqual(['cpu', 'memory']);
      expect(c['image']).toMatch(/^registry\.example\.com\/flotilla\/flotilla-(agent|hub):0\.1\.0$/);
      // Only volume types the restricted Pod Security Standard allows.
      for (const volume of pod['volumes'] as Doc[])
        expect(Object.keys(volume).filter((k) => k !== 'name')[0]).toMatch(/^(emptyDir|persistentVolumeClaim)$/);
    }
  });

  it('runs one hub on its volume, replaced with Recreate, behind a Service, configured by what `flotilla hub serve` reads', () => {
    const docs = manifests('hub');
    const deployment = one(docs, 'Deployment', 'flotilla-hub');
    expect(deployment['spec']['replicas']).toBe(1);
    expect(deployment['spec']['strategy']).toEqual({ type: 'Recreate' });
    const pod = deployment['spec']['template'];
    const hub = container(deployment);
    const env = Object.fromEntries((hub['env'] as Doc[]).map((e) => [e['name'], e['value']]));
    const config = serveConfig({}, env);
    expect(config).toMatchObject({ host: '0.0.0.0', port: 7070 });
    const dataMount = (hub['volumeMounts'] as Doc[]).find((m) => m['mountPath'] === config.dataDir)!;
    const volume = (pod['spec']['volumes'] as Doc[]).find((v) => v['name'] === dataMount['name'])!;
    expect(volume['persistentVolumeClaim']['claimName']).toBe(one(docs, 'PersistentVolumeClaim')['metadata']['name']);
    const service = one(docs, 'Service', 'flotilla-hub');
    expect(pod['metadata']['labels']).toMatchObject(service['spec']['selector']);
    const http = (hub['ports'] as Doc[]).find((p) => p['name'] === service['spec']['ports'][0]['targetPort'])!;
    expect(http['containerPort']).toBe(config.port);
    expect(hub['readinessProbe']['httpGet']).toEqual({ path: '/v1/health', port: 'http' });
  });

  it("gives the agent's image the DaemonSet's memory settings, so a container started without the manifest has them too", () => {
    const env = container(one(manifests('agent'), 'DaemonSet', 'flotilla-agent'))['env'] as Doc[];
    const image = readFileSync(join(DEPLOY, 'Containerfile.agent'), 'utf8');
    for (const name of ['GLIBC_TUNABLES', 'NODE_OPTIONS']) {
      const value = env.find((e) => e['name'] === name)?.['value'] as string;
      expect(value, name).toMatch(/\S/);
      const set = [...image.matchAll(new RegExp(`^ENV ${name}=(.+)$`, 'gm'))].map((m) =>
        m[1]!.replace(/^"(.*)"$/, '$1'),
      );
      expect(set, name).toEqual([value]);
    }
  });

  it("has container build files that copy paths that exist and start the packages' bins from the build", () => {
    for (const [file, pkg, bin] of [
      ['Containerfile.agent', 'agent', 'packages/agent/bin/flotilla-agent.js'],
      ['Containerfile.hub', 'hub', 'packages/hub/bin/flotilla.js'],
    ] as const) {
      const text = readFileSync(join(DEPLOY, file), 'utf8');
      expect(text).toMatch(/^ARG NODE_IMAGE=node:22-[a-z]+-slim$/m);
      expect(text).toMatch(new RegExp(`npm ci --omit=dev --workspace=@flotilla/${pkg}`));
      expect(text).toMatch(/^USER 1000:1000$/m);
      expect(text).toContain(`ENTRYPOINT ["node", "${bin}"]`);
      expect(existsSync(join(ROOT, bin))).toBe(true);
      for (const match of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
        const sources = match[1]!.trim().split(/\s+/).slice(0, -1);
        for (const source of sources) expect(existsSync(join(ROOT, source)), `${file}: COPY ${source}`).toBe(true);
      }
      // What the final stage takes from the build stage is what `npm run build` makes.
      const built = [...text.matchAll(/^COPY --from=build \/app\/(\S+) /gm)].map((m) => m[1]!);
      expect(built).toContain(`packages/${pkg}/dist`);
      for (const path of built) expect(existsSync(join(ROOT, path)), `${file}: COPY --from=build ${path}`).toBe(true);
    }
    // Nothing compiles TypeScript at run time: tsx is no dependency of a package that runs.
    for (const pkg of ['agent', 'hub', 'protocol']) {
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8'));
      expect(manifest.dependencies).not.toHaveProperty('tsx');
    }
  });
});

describe('deploy/ on the Kubernetes API stand-in', () => {
  let kube: KubeApiServer;
  let connection: ClusterConnection;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    kube = await startKubeApiServer({ tokens: [TOKEN], nodes: [{ name: 'node-1' }, { name: 'node-2' }] });
    connection = { server: kube.url, token: staticToken(TOKEN) };
  });

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await kube.close();
  });

  function driver(owner?: string): KubernetesDriver {
    const made = new KubernetesDriver({
      connection,
      ...(owner === undefined ? {} : { owner }),
      fieldManager: 'flotilla',
    });
    closers.push(() => made.close());
    return made;
  }

  it('applies every agent and hub manifest with the kubernetes driver', async () => {
    const docs = [...manifests('agent'), ...manifests('hub')].map(asResource);
    const results = await driver().apply(docs);
    expect(results.filter((r) => r.status !== 'applied')).toEqual([]);
    expect(
      kube.get({ apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: 'flotilla-system', name: 'flotilla-agent' })?.[
        'status'
      ],
    ).toMatchObject({ desiredNumberScheduled: 2 });
    const observed = await driver().observe(docs);
    expect(
      observed.filter((o) => o.health !== 'healthy').map((o) => `${o.key}: ${o.health} ${o.message ?? ''}`),
    ).toEqual([]);
  });

  it("grants the agent's service account every call the agent makes, and its own Lease and Secret through the namespaced Role alone", async () => {
    const docs = manifests('agent');
    await driver().apply(docs.map(asResource));
    const config = runConfig(
      { hub: 'https://hub.example.com', driver: 'kubernetes', stateDir: '/var/lib/flotilla-agent' },
      {},
    );
    const namespace = 'flotilla-system';
    const from = kube.requests.length;

    // What an agent does: campaign, keep its identity, report facts, apply, observe, prune, recover its inventory.
    const client = new KubeClient(connection);
    closers.push(() => client.close());
    const elector = new LeaseElector({ client, namespace, name: config.leaseName, identity: 'flotilla-agent-x7k2p' });
    expect(await elector.tryAcquireOrRenew()).toBe(true);
    expect(await elector.tryAcquireOrRenew()).toBe(true);
    await elector.stop();
    const scratch = tempDir('flotilla-deploy-');
    closers.push(async () => scratch.remove());
    const store = new SecretAgentStore({ client, namespace, name: config.identitySecret, dir: scratch.path });
    await store.keyPair();
    await store.saveEnrollment({
      targetId: 'tgt_0123456789abcdef0123',
      name: 'c1',
      hubId: 'hub',
      audience: 'urn:flotilla:hub:hub',
    });
    expect(await store.nextReportSeq()).toBe(1);
    await store.saveSync({ appliedGeneration: 1, appliedEnvelope: null, appliedReleases: [], nextSeq: 1 });
    await new SecretAgentStore({ client, namespace, name: config.identitySecret, dir: scratch.path }).enrollment();

    const owner = 'tgt_0123456789abcdef0123';
    const shop: Resource[] = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: { a: '1' } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'reader', namespace: 'shop' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'watch'] }],
      },
    ];
    const first = driver(owner);
    await first.facts();
    expect((await first.apply(shop)).every((r) => r.status === 'applied')).toBe(true);
    await first.observe(shop);
    // A new leader: no inventory, rebuilt from the labels; then everything pruned, namespace last.
    const next = driver(owner);
    expect((await next.apply([])).map((r) => r.status)).toEqual(['pruned', 'pruned', 'pruned']);

    const { cluster, namespaced } = agentRules(docs, { name: 'flotilla-agent', namespace });
    const calls = kube.requests.slice(from);
    expect(calls.length).toBeGreaterThan(20);
    const denied: string[] = [];
    for (const call of calls) {
      const attributes = requestAttributes(call.method, call.path);
      const required =
        call.method === 'PATCH' && call.status === 201 ? [attributes, { ...attributes, verb: 'create' }] : [attributes];
      for (const a of required) {
        const viaRole = namespaced.some(
          (r) => r.namespace === a.namespace && r.rules.some((rule) => ruleAllows(rule, a)),
        );
        const allowed = viaRole || cluster.some((rule) => ruleAllows(rule, a));
        if (!allowed) denied.push(`${a.verb} ${call.path}`);
        // The agent's own machinery must not depend on the broad ClusterRoles.
        if (a.namespace === namespace && (a.resource === 'leases' || a.resource === 'secrets') && !viaRole)
          denied.push(`${a.verb} ${call.path} (not through the Role)`);
      }
    }
    expect(denied).toEqual([]);

    // And the Role is narrow: no other Secret, no other Lease, nothing outside its namespace.
    const roleAllows = (a: RequestAttributes): boolean =>
      namespaced.some((r) => r.namespace === a.namespace && r.rules.some((rule) => ruleAllows(rule, a)));
    expect(
      roleAllows(requestAttributes('GET', `/api/v1/namespaces/${namespace}/secrets/${config.identitySecret}`)),
    ).toBe(true);
    expect(
      roleAllows(requestAttributes('GET', `/api/v1/namespaces/${namespace}/secrets/flotilla-agent-enrollment`)),
    ).toBe(false);
    expect(roleAllows(requestAttributes('GET', `/api/v1/namespaces/${namespace}/secrets`))).toBe(false);
    expect(
      roleAllows(requestAttributes('DELETE', `/api/v1/namespaces/${namespace}/secrets/${config.identitySecret}`)),
    ).toBe(false);
    expect(
      roleAllows(requestAttributes('GET', `/api/v1/namespaces/kube-system/secrets/${config.identitySecret}`)),
    ).toBe(false);
    expect(
      roleAllows(requestAttributes('PUT', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/other`)),
    ).toBe(false);
  });
});

describe('flotilla install agent', () => {
  let output: string;

  beforeEach(() => {
    output = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output += String(chunk);
      return true;
    });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('prints the agent manifests with the token Secret, the hub, the image and the namespace filled in', async () => {
    await (
      await buildProgram([], {}, { all: true })
    ).parseAsync([
      'node',
      'flotilla',
      'install',
      'agent',
      '--enroll-token',
      'fl_enroll_s3cr3t',
      '--hub',
      'https://hub.example.org',
      '--namespace',
      'edge-agents',
      '--image',
      'registry.internal/flotilla-agent:1.2.3',
      '--name',
      'store-42',
      '--trust-root-pin',
      '0123456789abcdef',
    ]);
    const docs = documents(output, 'output');
    expect(docs.map((d) => d['kind'])).toEqual(manifests('agent').map((d) => d['kind']));
    expect(output).toMatch(/^# Flotilla agent manifests/);
    // The comments of deploy/agent survive, so the RBAC still explains itself.
    expect(output).toContain('To narrow it, replace the rules');

    expect(one(docs, 'Namespace')['metadata']['name']).toBe('edge-agents');
    for (const doc of docs) {
      if (doc['metadata']['namespace'] !== undefined) expect(doc['metadata']['namespace']).toBe('edge-agents');
      for (const subject of doc['subjects'] ?? []) expect(subject['namespace']).toBe('edge-agents');
    }
    expect(one(docs, 'Secret', 'flotilla-agent-enrollment')['stringData']).toEqual({ token: 'fl_enroll_s3cr3t' });
    // Cluster-scoped names carry the namespace, so a second install does not collide.
    for (const binding of docs.filter((d) => d['kind'] === 'ClusterRoleBinding')) {
      expect(binding['metadata']['name']).toMatch(/-edge-agents$/);
      expect(one(docs, 'ClusterRole', binding['roleRef']['name'])).toBeDefined();
    }
    const agent = container(one(docs, 'DaemonSet'));
    expect(agent['image']).toBe('registry.internal/flotilla-agent:1.2.3');
    const env = Object.fromEntries(
      (agent['env'] as Doc[]).filter((e) => e['value'] !== undefined).map((e) => [e['name'], e['value']]),
    );
    expect(env).toMatchObject({
      FLOTILLA_HUB: 'https://hub.example.org',
      FLOTILLA_AGENT_NAME: 'store-42',
      FLOTILLA_TRUST_ROOT_PIN: '0123456789abcdef',
    });
  });

  it('keeps the shipped names in the default namespace, and the output applies to a cluster', async () => {
    const text = agentManifests({ enrollToken: 'fl_enroll_x', hub: 'http://hub.flotilla.svc:7070' });
    const docs = documents(text, 'output');
    expect(docs.map((d) => `${d['kind']}/${d['metadata']['name']}`)).toEqual(
      manifests('agent').map((d) => `${d['kind']}/${d['metadata']['name']}`),
    );
    const kube = await startKubeApiServer({ tokens: [TOKEN] });
    const driver = new KubernetesDriver({ connection: { server: kube.url, token: staticToken(TOKEN) } });
    try {
      expect((await driver.apply(docs.map(asResource))).filter((r) => r.status !== 'applied')).toEqual([]);
    } finally {
      await driver.close();
      await kube.close();
    }
  });

  it('refuses a missing hub or a malformed namespace with a message that names the option', async () => {
    await expect(
      buildProgram([], {}, { all: true }).then((program) =>
        program.parseAsync(['node', 'flotilla', 'install', 'agent', '--enroll-token', 't']),
      ),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('--hub') });
    expect(() => agentManifests({ enrollToken: 't', hub: 'https://h', namespace: 'Not_A_Label' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('namespace') }),
    );
    expect(() => agentManifests({ enrollToken: 't', hub: 'ftp://h' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('gives the agents several hub replicas, from a repeated --hub or a comma-separated one', async () => {
    await (
      await buildProgram([], {}, { all: true })
    ).parseAsync([
      'node',
      'flotilla',
      'install',
      'agent',
      '--enroll-token',
      'fl_enroll_x',
      '--hub',
      'https://hub-0.example.org',
      '--hub',
      'https://hub-1.example.org/, https://hub-2.example.org',
    ]);
    const agent = container(one(documents(output, 'output'), 'DaemonSet'));
    const hub = (agent['env'] as Doc[]).find((e) => e['name'] === 'FLOTILLA_HUB');
    expect(hub?.['value']).toBe('https://hub-0.example.org,https://hub-1.example.org,https://hub-2.example.org');
    expect(() => agentManifests({ enrollToken: 't', hub: 'https://a.example.org,b.example.org' })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining("'b.example.org' is not a URL"),
      }),
    );
  });
});
