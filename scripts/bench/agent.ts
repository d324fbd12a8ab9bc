/**
 * A real `flotilla-agent` process (the build, as `npm run build` makes it) with the
 * kubernetes driver against the Kubernetes API stand-in, enrolled with a hub in this process:
 * how long from spawning it to its first long-poll at the hub, its resident memory idle (in the
 * first ten seconds after its first report, and settled half a minute later), and while it
 * holds a release of 5,000 resources (applied, observed every few seconds, drift assessed), run with the memory settings deploy/agent/daemonset.yaml gives it: its
 * NODE_OPTIONS and GLIBC_TUNABLES (or BENCH_AGENT_NODE_OPTIONS, BENCH_AGENT_GLIBC_TUNABLES). Goals: idle ≤ 60 MB, ≤ 120 MB at 5,000 resources, first poll within 500 ms.
 * The CPU the agent spends (to its first poll, applying, per observe pass) prices a memory
 * setting that trades CPU for memory.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import type { Resource, Target } from '@flotilla/protocol';
import { api, startHub } from '../../test/fixtures/hub-fixture.ts';
import { startKubeApiServer } from '../../test/fixtures/kube-apiserver/index.ts';
import { tempDir } from '../../test/fixtures/temp-dir.ts';

const RESOURCES = Number(process.env['BENCH_RESOURCES'] ?? 5000);
// BENCH_AGENT_BIN runs another build's bin, to compare two builds on the same machine in turn.
const AGENT =
  process.env['BENCH_AGENT_BIN'] ??
  fileURLToPath(new URL('../../packages/agent/bin/flotilla-agent.js', import.meta.url));
const DAEMONSET = fileURLToPath(new URL('../../deploy/agent/daemonset.yaml', import.meta.url));
const TOKEN = 'bench-token';
const OBSERVE_SECONDS = 5;
const SETTLE_MS = 20_000;

function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

/** CPU seconds (user and system) the process has used so far; the kernel counts in 1/100 s. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Samples the process's RSS every 100 ms for `ms`; returns the median and the peak. */
async function sampleRss(pid: number, ms: number): Promise<{ median: number; peak: number }> {
  const samples: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) samples.push(rssMb(pid));
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, peak: samples.at(-1)! };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 300_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(100)) {
    const value = await probe();
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Resources of realistic size: ConfigMaps, Services and Deployments spread over a few namespaces. */
function release(count: number): Resource[] {
  const namespaces = ['shop', 'payments', 'search', 'catalog'];
  const resources: Resource[] = namespaces.map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  }));
  for (let i = resources.length; i < count; i++) {
    const namespace = namespaces[i % namespaces.length]!;
    const name = `item-${i}`;
    const labels = { app: name, 'app.kubernetes.io/part-of': namespace, tier: ['web', 'worker', 'api'][i % 3]! };
    if (i % 10 === 0)
      resources.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels },
            spec: {
              containers: [
                {
                  name: 'app',
                  image: `registry.example.com/${namespace}/${name}:1.${i % 40}.0`,
                  ports: [{ containerPort: 8080 }],
                  env: Array.from({ length: 6 }, (_, e) => ({ name: `SETTING_${e}`, value: `value-${i}-${e}` })),
                  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
                },
              ],
            },
          },
        },
      });
    else if (i % 10 === 1)
      resources.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace, labels },
        spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
      });
    else
      resources.push({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels },
        data: Object.fromEntries(
          Array.from({ length: 4 }, (_, k) => [`key-${k}`, `value-${i}-${k}-${'x'.repeat(40)}`]),
        ),
      });
  }
  return resources;
}

const dir = tempDir('flotilla-bench-agent-');
const kube = await startKubeApiServer({ tokens: [TOKEN] });
// The agent's namespace, as `flotilla install agent` creates it.
kube.as('kubectl').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flotilla-system' } });
const hub = await startHub();
const kubeconfig = join(dir.path, 'kubeconfig');
writeFileSync(
  kubeconfig,
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'bench',
    clusters: [{ name: 'bench', cluster: { server: kube.url } }],
    users: [{ name: 'bench', user: { token: TOKEN } }],
    contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench', namespace: 'default' } }],
  }),
);

let firstPollAt: number | undefined;
hub.hub.server.on('request', (req: { url?: string }) => {
  if (firstPollAt === undefined && req.url?.includes('/envelope') === true) firstPollAt = performance.now();
});

/** A variable the DaemonSet runs the agent with, so the figures are the deployed agent's. */
function daemonSetEnv(name: string): string {
  const daemonSet = parse(readFileSync(DAEMONSET, 'utf8')) as {
    spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
  };
  return daemonSet.spec.template.spec.containers[0]!.env.find((e) => e.name === name)?.value ?? '';
}
const nodeOptions = process.env['BENCH_AGENT_NODE_OPTIONS'] ?? daemonSetEnv('NODE_OPTIONS');
const glibcTunables = process.env['BENCH_AGENT_GLIBC_TUNABLES'] ?? daemonSetEnv('GLIBC_TUNABLES');

const enrollToken = await hub.enrollmentToken(1);
const spawnedAt = performance.now();
const agent = spawn(
  process.execPath,
  [
    AGENT,
    ...['run', '--hub', hub.url, '--enroll-token', enrollToken, '--name', 'edge-bench'],
    ...['--driver', 'kubernetes', '--kubeconfig', kubeconfig, '--namespace', 'flotilla-system'],
    ...['--state-dir', join(dir.path, 'state'), '--observe-seconds', String(OBSERVE_SECONDS)],
    ...['--log-level', process.env['BENCH_LOG'] ?? 'warn'],
  ],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: nodeOptions, GLIBC_TUNABLES: glibcTunables },
  },
);
const pid = agent.pid!;
let failed = false;
const died = (code: number | null): void => {
  failed = true;
  process.stderr.write(`the agent exited with ${code}\n`);
};
agent.once('exit', died);

try {
  await until('the first poll', () => Promise.resolve(firstPollAt));
  const startupMs = firstPollAt! - spawnedAt;
  const startupCpu = cpuSeconds(pid);
  const target = await until('the agent to report', async () => {
    const page = await api<{ items: Target[] }>(hub.url, 'GET', '/v1/targets', { token: hub.adminToken });
    const found = page.body.items[0];
    return found?.observed === null ? undefined : found;
  });
  // Idle: enrolled, polling, observing an empty cluster.
  const idle = await sampleRss(pid, 2 * OBSERVE_SECONDS * 1000);
  // Settled: the same, half a minute after the first report. V8's memory reducer runs some
  // seconds after the heap stops growing and returns what the start left behind; this is what
  // an agent idles with for hours.
  await sleep(SETTLE_MS);
  const settled = await sampleRss(pid, 2 * OBSERVE_SECONDS * 1000);

  const applyCpuStart = cpuSeconds(pid);
  const started = performance.now();
  await hub.publish('edge', '1.0.0', release(RESOURCES));
  const assigned = await hub.assign(target.id, ['edge@1.0.0']);
  if (assigned.status !== 200) throw new Error(`assign failed: ${JSON.stringify(assigned.body)}`);
  const applyPeak = { value: 0 };
  const watching = setInterval(() => {
    if (!failed) applyPeak.value = Math.max(applyPeak.value, rssMb(pid));
  }, 100);
  await until('the release to be applied', async () => {
    if (failed) throw new Error('the agent died');
    const now = await api<Target>(hub.url, 'GET', `/v1/targets/${target.id}`, { token: hub.adminToken });
    return now.body.observed?.phase === 'applied' && now.body.observed.bundles.length === 1 ? true : undefined;
  });
  clearInterval(watching);
  const applyMs = performance.now() - started;
  const applyCpu = cpuSeconds(pid) - applyCpuStart;
  // Holding: observe passes read the 5,000 objects back and assess drift every few seconds.
  const holdCpuStart = cpuSeconds(pid);
  const holding = await sampleRss(pid, 3 * OBSERVE_SECONDS * 1000);
  const holdCpu = cpuSeconds(pid) - holdCpuStart;

  process.stdout.write(
    `agent (NODE_OPTIONS ${JSON.stringify(nodeOptions)}, GLIBC_TUNABLES ${JSON.stringify(glibcTunables)}): first poll ${Math.round(startupMs)} ms after spawn; idle RSS ${idle.median.toFixed(1)} MB (peak ${idle.peak.toFixed(1)}), settled ${settled.median.toFixed(1)} MB\n`,
  );
  process.stdout.write(
    `  ${RESOURCES} resources applied in ${(applyMs / 1000).toFixed(1)} s (peak RSS ${applyPeak.value.toFixed(1)} MB while applying); holding them: RSS median ${holding.median.toFixed(1)} MB, peak ${holding.peak.toFixed(1)} MB over observe passes every ${OBSERVE_SECONDS} s\n`,
  );
  process.stdout.write(
    `${JSON.stringify({
      name: 'agent',
      idle_rss_mb: Number(idle.median.toFixed(1)),
      idle_settled_rss_mb: Number(settled.median.toFixed(1)),
      rss_5k_mb: Number(holding.peak.toFixed(1)),
      startup_ms: Math.round(startupMs),
      apply_peak_rss_mb: Number(applyPeak.value.toFixed(1)),
      apply_s: Number((applyMs / 1000).toFixed(1)),
      apply_cpu_s: Number(applyCpu.toFixed(2)),
      hold_cpu_s_per_pass: Number((holdCpu / 3).toFixed(2)),
      startup_cpu_s: Number(startupCpu.toFixed(2)),
    })}\n`,
  );
} finally {
  agent.off('exit', died);
  agent.kill('SIGKILL');
  await hub.dispose();
  await kube.close();
  dir.remove();
}
