/**
 * An air-gapped site, through the real `flotilla` and `flotilla-agent` processes and a real
 * registry: the hub and the agent share nothing but files. The agent enrolls once while
 * connected, then everything crosses as files (export, carry, import, apply with the image
 * pushed first, export reports, import them on the hub, carry the receipt back); then the
 * same agent reconnects online and catches up. The attacks whose boundary is the command line
 * are made there: each is one line and a non-zero exit, and changes nothing on the site.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_MANIFEST } from '@flotilla/protocol/offline';
import { OciLayoutWriter, RegistryClient } from '../packages/agent/src/offline/index.ts';
import { FLOTILLA, FLOTILLA_AGENT, flotilla, start, type CliResult, type RunningProcess } from './fixtures/cli.ts';
import { startOciRegistry, type OciRegistry } from './fixtures/oci-registry.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { addTestImage, type TestImage } from './fixtures/test-image.ts';
import { execFile } from 'node:child_process';

const IMAGE = 'registry.example.com/shop/web:2.0.0';

let work: ReturnType<typeof tempDir>;
let registry: OciRegistry;
let image: TestImage;
let hub: RunningProcess;
let hubUrl: string;
let targetId: string;
const processes: RunningProcess[] = [];
const path = (...parts: string[]) => join(work.path, ...parts);
const hubData = () => path('hub-data');
const state = () => path('site', 'state');
const root = () => path('site', 'root');

/** The operator on the hub machine: the local hub's admin token, from its data directory. */
function operator(args: readonly string[]): Promise<CliResult> {
  return flotilla(['--hub', hubUrl, '--data-dir', hubData(), ...args], { HOME: work.path });
}

/** The site's agent, offline: no hub URL at all. */
function site(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [FLOTILLA_AGENT, 'offline', ...args, '--state-dir', state()],
      { env: { PATH: process.env['PATH'] ?? '', HOME: work.path }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

function manifests(): string[] {
  return existsSync(root())
    ? readdirSync(root())
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .map((f) => readFileSync(join(root(), f), 'utf8'))
    : [];
}

function ok(result: CliResult): string {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

/** A refusal: exit 1 and one line that says what, naming the entry or field. */
function refused(result: CliResult, pattern: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(pattern);
}

function agentRun(): RunningProcess {
  const agent = start(process.execPath, [
    FLOTILLA_AGENT,
    'run',
    '--hub',
    hubUrl,
    '--state-dir',
    state(),
    '--driver',
    'manifests-dir',
    '--root',
    root(),
    '--log-format',
    'json',
    '--wait-seconds',
    '1',
  ]);
  processes.push(agent);
  return agent;
}

async function stop(p: RunningProcess): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

async function publish(version: string): Promise<void> {
  const dir = path(`release-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'web.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: web, namespace: shop}',
      `data: {version: "${version}", image: "${IMAGE}"}`,
      '',
    ].join('\n'),
  );
  ok(
    await operator([
      'release',
      'publish',
      dir,
      '--name',
      'web',
      '--version',
      version,
      '--key',
      path('release-key.json'),
    ]),
  );
}

beforeAll(async () => {
  work = tempDir('flotilla-airgap-cli-');
  mkdirSync(path('site'), { recursive: true });
  registry = await startOciRegistry({ kind: 'basic', users: { site: 'pw' } });
  writeFileSync(
    path('site', 'registry.json'),
    JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('site:pw').toString('base64') } } }),
  );
  const writer = await OciLayoutWriter.create(path('images'));
  image = await addTestImage(writer, work.path, IMAGE, 2, 64 * 1024);
  await writer.close();

  hub = start(process.execPath, [
    FLOTILLA,
    'hub',
    'serve',
    '--data-dir',
    hubData(),
    '--port',
    '0',
    '--log-format',
    'json',
  ]);
  processes.push(hub);
  const match = await hub.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
  hubUrl = match[1]!;
  ok(await operator(['keys', 'create', '--out', path('release-key.json')]));
  ok(await operator(['keys', 'register', path('release-key.json')]));
  await publish('2.0.0');

  // Enrolled once while connected, as a site is before it goes behind the gap.
  const token = JSON.parse(ok(await operator(['enroll-token', 'create', '-o', 'json']))).token as string;
  const agent = start(process.execPath, [
    FLOTILLA_AGENT,
    'run',
    '--hub',
    hubUrl,
    '--enroll-token',
    token,
    '--name',
    'edge-1',
    '--state-dir',
    state(),
    '--driver',
    'manifests-dir',
    '--root',
    root(),
    '--log-format',
    'json',
  ]);
  processes.push(agent);
  await agent.waitFor(/"msg":"agent started"/);
  await stop(agent);
  targetId = JSON.parse(readFileSync(join(state(), 'enrollment.json'), 'utf8')).targetId as string;
}, 120_000);

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await stop(p);
  await registry.stop();
  work.remove();
});

describe('an air-gapped site, file by file', () => {
  it('carries desired state and its image across, the reports back, and catches up online afterwards', async () => {
    ok(await operator(['assign', targetId, 'web@2.0.0']));
    const out = ok(
      await operator([
        'offline',
        'export',
        '--target',
        'edge-1',
        '--out',
        path('edge-1.flotilla'),
        '--images',
        path('images'),
      ]),
    );
    expect(out).toContain(`${targetId} generation 1`);

    // Carried across the gap; a copy tampered with on the way is refused and changes nothing.
    copyFileSync(path('edge-1.flotilla'), path('site', 'carried.flotilla'));
    const bytes = readFileSync(path('edge-1.flotilla'));
    const at = bytes.lastIndexOf(Buffer.from('"generation":1'));
    bytes[at + 13] = '2'.charCodeAt(0);
    writeFileSync(path('site', 'tampered.flotilla'), bytes);
    refused(
      await site(['import', path('site', 'tampered.flotilla'), '--root', root(), '--registry', registry.url]),
      new RegExp(`envelopes/${targetId}\\.json`),
    );
    expect(manifests()).toEqual([]);

    // Without the registry the image needs, nothing is applied.
    refused(await site(['import', path('site', 'carried.flotilla'), '--root', root()]), /--registry/);
    expect(manifests()).toEqual([]);

    const imported = ok(
      await site([
        'import',
        path('site', 'carried.flotilla'),
        '--root',
        root(),
        '--registry',
        registry.url,
        '--registry-credentials',
        path('site', 'registry.json'),
      ]),
    );
    expect(imported).toMatch(/generation 1 applied, 1 image\(s\) pushed/);
    expect(manifests().join('')).toContain('version: 2.0.0');
    const client = new RegistryClient({
      url: registry.url,
      credentials: { kind: 'basic', username: 'site', password: 'pw' },
    });
    try {
      expect((await client.getManifest('shop/web', '2.0.0', [OCI_MANIFEST])).digest).toBe(image.manifest.digest);
    } finally {
      await client.close();
    }
    expect(
      ok(await site(['import', path('site', 'carried.flotilla'), '--root', root(), '--registry', registry.url])),
    ).toMatch(/already in place/);

    // Reports back, and the receipt home.
    ok(await site(['export-reports', '--out', path('site', 'reports.jsonl')]));
    copyFileSync(path('site', 'reports.jsonl'), path('reports.jsonl'));
    const edited = readFileSync(path('reports.jsonl'), 'utf8').replace('"phase":"applied"', '"phase":"failed"');
    writeFileSync(path('edited.jsonl'), edited);
    refused(await operator(['offline', 'import-reports', path('edited.jsonl')]), /report 2|link/);
    expect(existsSync(path('edited.jsonl.receipt.json'))).toBe(false);
    const ingested = ok(
      await operator(['offline', 'import-reports', path('reports.jsonl'), '--receipt', path('receipt.json')]),
    );
    expect(ingested).toMatch(/[1-9]\d* new, 0 already held, 0 forked, 0 lost/);
    expect(
      ok(await operator(['offline', 'import-reports', path('reports.jsonl'), '--receipt', path('receipt-2.json')])),
    ).toMatch(/ 0 new, [1-9]\d* already held/);
    const status = JSON.parse(ok(await operator(['offline', 'status', '-o', 'json']))).items;
    expect(status).toMatchObject([
      { targetId, sync: 'offline-synced', exportedGeneration: 1, acknowledgedGeneration: 1 },
    ]);

    const receipt = JSON.parse(readFileSync(path('receipt.json'), 'utf8'));
    receipt.receipt.targetId = 'tgt_00000000000000000000';
    writeFileSync(path('site', 'forged-receipt.json'), JSON.stringify(receipt));
    refused(await site(['import-receipt', path('site', 'forged-receipt.json')]), /altered or forged/);
    copyFileSync(path('receipt.json'), path('site', 'receipt.json'));
    expect(ok(await site(['import-receipt', path('site', 'receipt.json')]))).toMatch(/[1-9]\d* report\(s\) confirmed/);
    expect(ok(await site(['import-receipt', path('site', 'receipt.json')]))).toMatch(/ 0 report\(s\) confirmed/);

    const audit = JSON.parse(ok(await operator(['audit', 'ls', '--action', 'offline.*', '-o', 'json'])));
    const actions = (audit.entries ?? audit.items ?? audit).map(
      (e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`,
    );
    expect(actions).toEqual(
      expect.arrayContaining(['offline.export:success', 'offline.import-reports:success', 'offline.receipt:success']),
    );

    // Back online: the same agent catches up with a newer generation, and the hub sees it.
    await publish('2.1.0');
    ok(await operator(['assign', targetId, 'web@2.1.0']));
    const agent = agentRun();
    await agent.waitFor(/"generation":2[^\n]*"msg":"desired state applied"/, 30_000);
    await stop(agent);
    expect(manifests().join('')).toContain('version: 2.1.0');
    const online = JSON.parse(ok(await operator(['offline', 'status', '-o', 'json']))).items;
    expect(online).toMatchObject([{ targetId, sync: 'online', acknowledgedGeneration: 2 }]);

    // The old file is now a rollback: refused, and generation 2 stays.
    refused(
      await site(['import', path('site', 'carried.flotilla'), '--root', root(), '--registry', registry.url]),
      /generation 1/,
    );
    expect(manifests().join('')).toContain('version: 2.1.0');
  }, 120_000);
});
