/**
 * 100,000 targets with realistic random properties in a real hub store (SQLite file, WAL,
 * the hub's migrations and query index); the mission query and twelve others through the
 * hub's query path (parse, check fields, select ids from the in-memory fleet index, read a
 * page of 100 records as the JSON text the API sends, and the total), p50 and p99 over repeated
 * runs. Next to it, in the same run, a plain array filter over the same data in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { generateKeyPair, type Target } from '@flotilla/protocol';
import { compileMatcher, parseQuery } from '@flotilla/protocol/query';
import { createHub, openDatabase } from '@flotilla/hub';
import { AuditLog } from '../../packages/hub/src/features/audit/audit-log.ts';
import { compileQuerySql } from '../../packages/hub/src/features/targets/query-sql-store.ts';
import { FleetQueryStore } from '../../packages/hub/src/features/targets/fleet-query-store.ts';
import { TargetStore } from '../../packages/hub/src/features/targets/target-store.ts';
import { seedTargets } from './_seed-targets.ts';
import { quantile } from '../quantile.ts';

const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 100_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 60);
const NOW = Date.now();
const DAY = 86_400_000;

// A seeded generator, so every run measures the same fleet.
let seed = 42;
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
const OWNERS = [
  'atlas',
  'borealis',
  'cygnus',
  'draco',
  'eridanus',
  'fornax',
  'gemini',
  'hydra',
  'indus',
  'lyra',
  'orion',
  'pavo',
  'sagitta',
  'taurus',
  'vela',
];
const COMPLIANCE = ['none', 'none', 'none', 'pci', 'hipaa', 'sox'];
const SUBSTRATES = ['aws', 'gce', 'azure', 'on-prem', 'vsphere'];
const K8S = ['v1.27.16', 'v1.28.15', 'v1.29.10', 'v1.30.6', 'v1.31.2'];
const APP = ['4.0.3', '4.1.0', '4.1.2', '4.2.0', '4.2.1', '4.2.3', '4.3.0'];
const MONITORING = ['2.4.0', '2.5.1', '2.6.0'];
const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function makeTarget(i: number): Target {
  const id = `tgt_${i.toString(16).padStart(20, '0')}`;
  const enrolled = NOW - Math.floor(random() * 365 * DAY);
  const changed = Math.max(enrolled, NOW - Math.floor(random() * 120 * DAY));
  const app = pick(APP);
  const monitoring = pick(MONITORING);
  const labels: Record<string, string> = { env: pick(['prod', 'prod', 'stage', 'dev']) };
  if (random() < 0.02) labels['frozen'] = 'true';
  if (random() < 0.01) labels['compliance-hold'] = 'true';
  const bundles = [
    { name: 'app', version: app, digest: digest(APP.indexOf(app)) },
    { name: 'monitoring', version: monitoring, digest: digest(100 + MONITORING.indexOf(monitoring)) },
  ];
  return {
    id,
    name: `cluster-${i}`,
    status: random() < 0.01 ? 'disabled' : 'active',
    labels,
    properties: {
      region: pick(REGIONS),
      tier: pick(TIERS),
      owner: pick(OWNERS),
      customer: `customer-${Math.floor(random() * 800)}`,
      compliance: pick(COMPLIANCE),
    },
    facts: {
      substrate: pick(SUBSTRATES),
      driver: 'kubernetes',
      kubernetesVersion: pick(K8S),
      nodeCount: 3 + Math.floor(random() * 60),
      capabilities: random() < 0.1 ? { 'nvidia.com/gpu': 8 } : {},
    },
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
    enrolledAt: new Date(enrolled).toISOString(),
    lastSeenAt: new Date(NOW - Math.floor(random() * 600_000)).toISOString(),
    lastChangedAt: new Date(changed).toISOString(),
    lastChangedBy: { kind: 'user', id: 'bench' },
  };
}

const QUERIES: [string, (t: Target) => boolean][] = [
  [
    'region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d',
    (t) =>
      String(t.properties['region']).startsWith('eu-') &&
      t.properties['owner'] === 'atlas' &&
      (t.observed?.bundles.some((b) => b.name === 'app' && b.version.startsWith('4.2.')) ?? false) &&
      Date.parse(t.lastChangedAt) < NOW - 30 * DAY,
  ],
  ['tier=production', () => true],
  ['region=us-east-1, tier=production', () => true],
  ['owner in (atlas, orion, vela), !frozen', () => true],
  ['running.app<4.2', () => true],
  ['running.app>=4.2.1, running.monitoring=2.6', () => true],
  ['facts.kubernetesVersion<1.29', () => true],
  ['facts.capabilities.nvidia.com/gpu>0, region in (us-*)', () => true],
  ['health=degraded', () => true],
  ['status=disabled', () => true],
  ['compliance in (pci, hipaa), tier=production, lastSeen>now-5m', () => true],
  ['customer=customer-17', () => true],
  ['facts.substrate=on-prem or facts.substrate=vsphere, facts.nodeCount>50', () => true],
];

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return Number(quantile(sorted, p / 100)!.toFixed(3));
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-query-'));
const db = openDatabase(join(dir, 'hub.db'));
const fleet: Target[] = [];
const seedStarted = performance.now();
for (let i = 0; i < TARGETS; i++) fleet.push(makeTarget(i));
seedTargets(db, fleet, 10);
const seedSeconds = (performance.now() - seedStarted) / 1000;

// The fleet index as a hub builds it before it listens: from the store (a first start, or
// after a crash), then from the snapshot a clean stop keeps (every other start). Heap, not
// RSS: the scan also maps database pages into memory, which the OS may reclaim.
global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const fromStore = new TargetStore(db);
const built = fromStore.loadFleetIndex();
global.gc?.();
const indexMb = Math.round((process.memoryUsage().heapUsed - heapBefore) / 1048576);
fromStore.saveFleetIndexSnapshot(NOW);
const snapshotMb = (
  (db.prepare('SELECT length(data) AS n FROM fleet_index_snapshot').get() as { n: number }).n / 1048576
).toFixed(1);
const fromSnapshot = new TargetStore(db).loadFleetIndex();
if (built.source !== 'store' || fromSnapshot.source !== 'snapshot')
  throw new Error('the index was not built as expected');
fromStore.saveFleetIndexSnapshot(NOW);

const hub = await createHub({
  db,
  log: pino({ level: 'silent' }),
  keys: { hub: generateKeyPair(), root: generateKeyPair() },
  clock: () => NOW,
  audit: (d) => new AuditLog({ db: d, clock: () => NOW, signer: generateKeyPair() }),
});
const { targets, fleet: fleetQuery } = hub.services;

if (process.env['BENCH_EXPLAIN'] !== undefined) {
  const { where, params } = compileQuerySql(parseQuery(QUERIES[0]![0]), { now: NOW, alias: 't' });
  for (const sql of [
    `SELECT t.* FROM targets t WHERE (${where}) AND t.id > ? ORDER BY t.id LIMIT ?`,
    `SELECT count(*) AS n FROM targets t WHERE (${where})`,
  ]) {
    const extra = sql.includes('LIMIT') ? ['', 101] : [];
    process.stdout.write(
      `${sql}\n${(db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params, ...extra) as { detail: string }[]).map((r) => `  ${r.detail}`).join('\n')}\n`,
    );
  }
}

const results: Record<string, { p50: number; p99: number; total: number }> = {};
for (const [query] of QUERIES) {
  const samples: number[] = [];
  let total = 0;
  for (let run = 0; run < RUNS + 5; run++) {
    const started = performance.now();
    const page = targets.list(query, '', 100);
    const elapsed = performance.now() - started;
    if (run >= 5) samples.push(elapsed);
    if (run === 0) total = (JSON.parse(page) as { total: number }).total;
  }
  results[query] = { p50: percentile(samples, 50), p99: percentile(samples, 99), total };
}

// Where the mission query's time goes: parsing and checking it, selecting the matching ids
// (their count is the total), and reading the page of targets as the JSON text the API sends
// (next to it, as parsed documents, the way pages were read before).
const pageStore = new FleetQueryStore(db);
const phases = { parse: [] as number[], ids: [] as number[], page: [] as number[], parsedPage: [] as number[] };
for (let run = 0; run < RUNS + 5; run++) {
  let started = performance.now();
  const parsed = fleetQuery.parse(QUERIES[0]![0]);
  const parseMs = performance.now() - started;
  started = performance.now();
  const ids = fleetQuery.ids(parsed, NOW);
  const idsMs = performance.now() - started;
  started = performance.now();
  pageStore.targetsJson(ids.slice(0, 101));
  const pageMs = performance.now() - started;
  started = performance.now();
  pageStore.targets(ids.slice(0, 101));
  const parsedPageMs = performance.now() - started;
  if (run < 5) continue;
  phases.parse.push(parseMs);
  phases.ids.push(idsMs);
  phases.page.push(pageMs);
  phases.parsedPage.push(parsedPageMs);
}

// The mission query in memory: a plain array filter, and the query language's own matcher.
const [missionQuery, missionFilter] = QUERIES[0]!;
const arraySamples: number[] = [];
const matcherSamples: number[] = [];
const matcher = compileMatcher(parseQuery(missionQuery), { now: NOW });
let arrayCount = 0;
for (let run = 0; run < RUNS + 5; run++) {
  let started = performance.now();
  arrayCount = fleet.filter(missionFilter).length;
  if (run >= 5) arraySamples.push(performance.now() - started);
  started = performance.now();
  fleet.filter(matcher);
  if (run >= 5) matcherSamples.push(performance.now() - started);
}
const mission = results[missionQuery]!;
if (arrayCount !== mission.total) {
  process.stderr.write(`the array filter found ${arrayCount} targets but the hub ${mission.total}\n`);
  process.exit(1);
}

process.stdout.write(
  `seeded ${TARGETS} targets in ${seedSeconds.toFixed(1)} s; ${RUNS} runs per query, page of 100 plus total\n`,
);
for (const [query, r] of Object.entries(results))
  process.stdout.write(
    `  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${String(r.total).padStart(6)} targets  ${query}\n`,
  );
process.stdout.write(
  `  mission query by phase, p50: parse and check ${percentile(phases.parse, 50)} ms, select ids and count them (fleet index) ${percentile(phases.ids, 50)} ms, read the page of 101 as JSON text ${percentile(phases.page, 50)} ms (as parsed documents ${percentile(phases.parsedPage, 50)} ms)\n`,
);
process.stdout.write(
  `  fleet index: built from the store in ${Math.round(built.ms)} ms (about ${indexMb} MB of heap), loaded from its ${snapshotMb} MB snapshot in ${Math.round(fromSnapshot.ms)} ms\n`,
);
const arrayP50 = percentile(arraySamples, 50);
process.stdout.write(
  `  in-memory mission query: array filter p50 ${arrayP50} ms, compiled matcher p50 ${percentile(matcherSamples, 50)} ms; the hub's whole page and total p50 ${mission.p50} ms, ${(arrayP50 / mission.p50).toFixed(1)}x faster than the bare filter\n`,
);
await hub.close();
db.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ name: 'query', targets: TARGETS, seed_query_p50_ms: mission.p50, seed_query_p99_ms: mission.p99, array_filter_p50_ms: arrayP50, index_vs_array: Number((arrayP50 / mission.p50).toFixed(1)), mission_matches: mission.total, index_build_ms: Math.round(built.ms), index_snapshot_load_ms: Math.round(fromSnapshot.ms), index_heap_mb: indexMb })}\n`,
);
