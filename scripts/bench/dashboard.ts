/**
 * The dashboard at 100,000 targets: a real hub (SQLite file, the hub's migrations and query
 * index) serving the built dashboard, and Debian's Chromium through playwright-core. It
 * measures the time from navigation to the fleet overview fully rendered, and from pressing
 * Enter on a query to the table showing its result (timed inside the page), and the size of
 * the dashboard's JavaScript gzipped.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { chromium } from 'playwright-core';
import { generateKeyPair, type Target } from '@flotilla/protocol';
import { createHub, openDatabase } from '@flotilla/hub';
import { AuditLog } from '../../packages/hub/src/features/audit/audit-log.ts';
import { seedTargets } from './_seed-targets.ts';

const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 100_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
const ASSETS = fileURLToPath(new URL('../../packages/dashboard/dist/assets/', import.meta.url));
const NOW = Date.now();
const DAY = 86_400_000;

let seed = 7;
const random = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
const REGIONS = [
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'eu-north-1',
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'ap-southeast-1',
  'ap-northeast-1',
  'sa-east-1',
  'ca-central-1',
  'me-south-1',
];
const TIERS = ['production', 'production', 'staging', 'dev'];
const K8S = ['v1.27.16', 'v1.28.15', 'v1.29.10', 'v1.30.6', 'v1.31.2'];
const APP = ['4.0.3', '4.1.0', '4.2.1', '4.3.0'];
const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function makeTarget(i: number): Target {
  const id = `tgt_${i.toString(16).padStart(20, '0')}`;
  const app = pick(APP);
  const bundles = [{ name: 'app', version: app, digest: digest(APP.indexOf(app)) }];
  const enrolled = NOW - Math.floor(random() * 365 * DAY);
  const drift =
    random() < 0.05
      ? {
          counts: { acceptable: 0, transient: 0, suspicious: 1, dangerous: random() < 0.2 ? 1 : 0 },
          intentional: 0,
          seq: 10,
          reportedAt: new Date(NOW - 60_000).toISOString(),
        }
      : undefined;
  return {
    id,
    name: `cluster-${String(i).padStart(6, '0')}`,
    status: random() < 0.01 ? 'disabled' : 'active',
    labels: { env: pick(['prod', 'stage', 'dev']) },
    properties: { region: pick(REGIONS), tier: pick(TIERS), owner: `team-${Math.floor(random() * 40)}` },
    facts: { kubernetesVersion: pick(K8S), nodeCount: 3 + Math.floor(random() * 60) },
    keyId: id.slice(4, 20),
    desired: { generation: 3, bundles },
    observed: {
      seq: 10,
      generation: 3,
      phase: 'applied',
      health: random() < 0.03 ? 'degraded' : 'healthy',
      bundles,
      reportedAt: new Date(NOW - 60_000).toISOString(),
    },
    ...(drift === undefined ? {} : { drift }),
    enrolledAt: new Date(enrolled).toISOString(),
    lastSeenAt:
      random() < 0.02
        ? null
        : new Date(NOW - Math.floor(random() * (random() < 0.9 ? 240_000 : 3 * DAY))).toISOString(),
    lastChangedAt: new Date(enrolled).toISOString(),
    lastChangedBy: { kind: 'user', id: 'bench' },
  };
}

const median = (samples: readonly number[]): number =>
  Number([...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!.toFixed(1));

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-dashboard-'));
const db = openDatabase(join(dir, 'hub.db'));
const seedStarted = performance.now();
seedTargets(
  db,
  (function* () {
    for (let i = 0; i < TARGETS; i++) yield makeTarget(i);
  })(),
  10,
);
const seedSeconds = (performance.now() - seedStarted) / 1000;

const hubKey = generateKeyPair();
const hub = await createHub({
  db,
  log: pino({ level: 'silent' }),
  keys: { hub: hubKey, root: generateKeyPair() },
  audit: (d) => new AuditLog({ db: d, clock: Date.now, signer: hubKey }),
});
const token = hub.services.identity.bootstrapAdminToken()!;
const url = await hub.listen(0);
const profile = mkdtempSync(join(tmpdir(), 'flotilla-bench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ],
  viewport: { width: 1440, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(30_000);

try {
  await page.goto(`${url}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('overview-ready').waitFor();

  // Navigation to the overview with every chart drawn: the page, its script and style (from
  // the browser's cache after the first run, as for a person who comes back), the session
  // check, and the facets over the whole fleet.
  const renders: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    await page.goto(`${url}/`, { waitUntil: 'commit' });
    await page.locator('[data-testid=overview-ready] + .facet-grid .bars').nth(7).waitFor();
    renders.push(performance.now() - started);
  }
  const expectedTotal = (await page.getByTestId('overview-ready').locator('.total-number').first().textContent()) ?? '';
  if (expectedTotal.replace(/\D/g, '') !== String(TARGETS))
    throw new Error(`the overview shows ${expectedTotal} targets, not ${TARGETS}`);

  // Enter on a query to the table showing its first rows, timed inside the page.
  const queries = [
    'region=eu-west-1',
    'tier=production, health=degraded',
    'running.app>=4.2, facts.kubernetesVersion<1.30',
    'drift=dangerous',
    'region in (us-*), tier!=dev, lastSeen>now-5m',
    'owner=team-7',
    'not region=eu-*',
  ];
  const toTable: number[] = [];
  await page.goto(`${url}/targets`);
  await page.locator('.viewport [role=row] a').first().waitFor();
  for (let run = 0; run < Math.max(RUNS, queries.length); run++) {
    const query = queries[run % queries.length]!;
    const input = page.getByLabel('Fleet query');
    await input.fill(query);
    // A string, not a function: tsx would wrap named functions in a helper the page lacks.
    const elapsed = page.evaluate<number>(`new Promise((resolve, reject) => {
      setTimeout(() => reject(new Error('the table did not show the result of ' + ${JSON.stringify(query)} + ' within 20 s')), 20000);
      const q = ${JSON.stringify(query)};
      let pressed = 0;
      document.getElementById('query-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') pressed = performance.now(); }, { once: true });
      const observer = new MutationObserver(() => {
        const total = document.querySelector('[data-testid=target-total]')?.textContent ?? '';
        const firstRow = document.querySelector('.viewport [role=row] a');
        if (pressed === 0 || new URLSearchParams(location.search).get('q') !== q || !total.endsWith('match') || firstRow === null) return;
        observer.disconnect();
        resolve(performance.now() - pressed);
      });
      observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    })`);
    await input.press('Enter');
    toTable.push(await elapsed);
    if (run < queries.length)
      process.stdout.write(
        `  ${query}: ${(await page.getByTestId('target-total').textContent()) ?? ''}, ${toTable.at(-1)!.toFixed(1)} ms\n`,
      );
  }

  const jsKb =
    readdirSync(ASSETS)
      .filter((f) => f.endsWith('.js'))
      .reduce((sum, f) => sum + gzipSync(readFileSync(join(ASSETS, f)), { level: 9 }).length, 0) / 1024;
  process.stdout.write(
    `seeded ${TARGETS} targets in ${seedSeconds.toFixed(1)} s; overview renders (ms): ${renders.map((r) => r.toFixed(0)).join(', ')}; query to table (ms): ${toTable.map((r) => r.toFixed(0)).join(', ')}\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ name: 'dashboard', targets: TARGETS, first_render_ms: median(renders), query_to_table_ms: median(toTable), js_kb_gzip: Number(jsKb.toFixed(1)) })}\n`,
  );
} finally {
  await context.close();
  await hub.close();
  db.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
