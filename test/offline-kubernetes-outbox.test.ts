/**
 * A Kubernetes agent behind a data diode: its identity lives in a Secret and no one can run a
 * command beside it, so the running agent itself writes its reports files into an outbox
 * volume, and takes the hub's receipts from its inbox. The real `flotilla-agent` process runs
 * with the kubernetes driver against the API stand-in; the hub is the real one, reached only
 * by the operator's `flotilla offline import-reports`.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Target } from '@flotilla/protocol';
import { api, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { FLOTILLA_AGENT, flotilla, start, type CliResult, type RunningProcess } from './fixtures/cli.ts';
import { startKubeApiServer, type KubeApiServer } from './fixtures/kube-apiserver/index.ts';
import { objectRef, shopNamespace, shopSettings } from './fixtures/shop-bundle.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const NAMESPACE = 'flotilla-system';
const TOKEN = 'agent-token';
/** Nothing listens there: the site cannot reach the hub. */
const NO_HUB = 'http://127.0.0.1:1';

let work: ReturnType<typeof tempDir>;
let hub: HubFixture;
let kube: KubeApiServer;
let targetId: string;
const processes: RunningProcess[] = [];
const path = (...parts: string[]) => join(work.path, ...parts);
const outbox = () => path('site', 'outbox');
const inbox = () => path('site', 'inbox');

function agent(hubUrl: string, extra: readonly string[] = []): RunningProcess {
  const running = start(process.execPath, [
    FLOTILLA_AGENT,
    'run',
    '--hub',
    hubUrl,
    '--driver',
    'kubernetes',
    '--kubeconfig',
    path('kubeconfig'),
    '--namespace',
    NAMESPACE,
    '--no-leader-election',
    '--state-dir',
    path('site', 'state'),
    '--observe-seconds',
    '1',
    '--log-format',
    'json',
    ...extra,
  ]);
  processes.push(running);
  return running;
}

async function stop(p: RunningProcess): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

function operator(args: readonly string[]): Promise<CliResult> {
  return flotilla(['--hub', hub.url, '--data-dir', hub.dataDir, ...args], { HOME: work.path });
}

/** The reports files in the outbox, oldest first; a file appears only whole. */
function outboxFiles(): string[] {
  const names = existsSync(outbox()) ? readdirSync(outbox()) : [];
  expect(names.filter((n) => !n.startsWith('.') && !/^reports-tgt_\w+-\d{12}\.jsonl$/.test(n))).toEqual([]);
  return names.filter((n) => !n.startsWith('.')).sort();
}

/** Imports a reports file on the hub as the operator does; returns the receipt it wrote. */
async function importOnHub(name: string) {
  const receipt = path(`${name}.receipt.json`);
  const result = await operator(['offline', 'import-reports', join(outbox(), name), '--receipt', receipt]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return { file: receipt, receipt: JSON.parse(readFileSync(receipt, 'utf8')).receipt };
}

beforeAll(async () => {
  work = tempDir('flotilla-k8s-outbox-');
  mkdirSync(outbox(), { recursive: true });
  mkdirSync(inbox(), { recursive: true });
  hub = await startHub();
  kube = await startKubeApiServer({ tokens: [TOKEN] });
  kube.as('kubectl').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  writeFileSync(
    path('kubeconfig'),
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'site',
      clusters: [{ name: 'site', cluster: { server: kube.url } }],
      users: [{ name: 'agent', user: { token: TOKEN } }],
      contexts: [{ name: 'site', context: { cluster: 'site', user: 'agent' } }],
    }),
  );
  await hub.publish('shop', '1.0.0', [shopNamespace, shopSettings]);

  // Enrolled and given its release while connected, as a site is before it goes behind the gap.
  const online = agent(hub.url, ['--enroll-token', await hub.enrollmentToken(1), '--name', 'store-42']);
  await online.waitFor(/"msg":"agent started"/);
  const targets = (await api<{ items: Target[] }>(hub.url, 'GET', '/v1/targets', { token: hub.adminToken })).body;
  targetId = targets.items[0]!.id;
  expect((await hub.assign(targetId, ['shop@1.0.0'])).status).toBe(200);
  await waitFor('the hub to hear that generation 1 is applied', async () => {
    const { body } = await api<Target>(hub.url, 'GET', `/v1/targets/${targetId}`, { token: hub.adminToken });
    return body.observed?.generation === 1 && body.observed.phase === 'applied';
  });
  await stop(online);
}, 120_000);

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await stop(p);
  await kube?.close();
  await hub?.dispose();
  work?.remove();
});

describe('a kubernetes agent that cannot reach the hub', () => {
  it('writes its reports into the outbox, and a receipt in its inbox prunes them; the next file links on', async () => {
    const site = agent(NO_HUB, ['--outbox', outbox(), '--outbox-seconds', '1', '--inbox', inbox()]);
    await site.waitFor(/"msg":"outbox: reports file written"/, 30_000);
    const [first] = outboxFiles();
    const one = await importOnHub(first!);
    expect(one.receipt.accepted.length).toBe(1);
    // The agent numbers reports from blocks reserved in its Secret: the rest of the online
    // process's block was never used, and shows as the one gap, before this file's reports.
    expect(one.receipt.gaps).toEqual([{ from: expect.any(Number), to: one.receipt.accepted[0].from - 1 }]);
    const firstHead = one.receipt.head.seq as number;

    copyFileSync(one.file, join(inbox(), 'receipt-1.json'));
    await site.waitFor(/"msg":"inbox: receipt imported"/, 30_000);
    expect(site.stdout()).toMatch(new RegExp(`"head":${firstHead},"pruned":[1-9]`));

    // Someone deletes what the release put there: drift, a new report, a new file.
    kube.as('kubectl').delete(objectRef(shopSettings));
    await waitFor('a second reports file in the outbox', () => outboxFiles().length >= 2, 30_000);
    const second = outboxFiles().at(-1)!;
    const two = await importOnHub(second);
    expect(two.receipt.accepted[0].from).toBeGreaterThan(firstHead);
    expect(two.receipt.duplicates).toEqual([]);
    expect(two.receipt.gaps).toEqual([]);
    await stop(site);
  }, 120_000);
});

describe('flotilla-agent offline with the kubernetes driver', () => {
  it('says in one line that a kubernetes agent exchanges reports through its outbox and inbox', async () => {
    const result = await new Promise<CliResult>((resolve) => {
      const child = start(
        process.execPath,
        [
          FLOTILLA_AGENT,
          'offline',
          'export-reports',
          '--out',
          path('reports.jsonl'),
          '--state-dir',
          path('site', 'state'),
        ],
        { env: { FLOTILLA_AGENT_DRIVER: 'kubernetes' } },
      );
      void child.exited.then((code) => resolve({ code, stdout: child.stdout(), stderr: child.stderr() }));
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--outbox/);
  });
});
