/**
 * A rollout's own steps over a large fleet, without agents: a real hub store (SQLite file, the
 * hub's migrations and indexes) seeded with N targets, a rollout of three waves created through
 * the service, and its waves walked by controller passes while the targets' reports are written
 * straight into the store (as if every agent had reported the release applied and healthy).
 * It measures what the fleet benchmark cannot isolate: the time `create` holds the event loop,
 * the longest controller pass (a wave advance, which records the next wave's members), a
 * routine pass with nothing to do in the first wave and in the last (every target a member),
 * and the event loop's worst delay from creation until the
 * rollout completes, background envelope batches included.
 *
 * Options: `--targets N` (or BENCH_TARGETS; 18000). BENCH_WAVES ('canary:1%,early:10%,rest:100%').
 * `--cpu-prof` (node's flag, before the script) profiles it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createHub, openDatabase } from '@flotilla/hub';
import { API_VERSION, generateKeyPair, signBundle, type Target } from '@flotilla/protocol';
import { AuditLog } from '../../packages/hub/src/features/audit/audit-log.ts';
import { LoopDelay } from './_loop-delay.ts';
import { seedTargets } from './_seed-targets.ts';

const flag = process.argv.indexOf('--targets');
const TARGETS = Number(flag >= 0 ? process.argv[flag + 1] : (process.env['BENCH_TARGETS'] ?? 18_000));
const WAVES = process.env['BENCH_WAVES'] ?? 'canary:1%,early:10%,rest:100%';
const OPERATOR = { kind: 'user' as const, tokenId: 'tok_bench', name: 'bench', role: 'admin' as const };
const BENCH = { kind: 'user' as const, id: 'bench' };

function makeTarget(i: number): Target {
  const id = `tgt_${i.toString(16).padStart(20, '0')}`;
  return {
    id,
    name: `site-${i}`,
    status: i % 200 === 7 ? 'disabled' : 'active',
    labels: { fleet: 'bench', ring: `r${i % 10}` },
    properties: { region: `region-${i % 12}` },
    facts: { kubernetesVersion: '1.30.2' },
    keyId: id.slice(4, 20),
    desired: { generation: 0, bundles: [] },
    observed: null,
    enrolledAt: '2026-01-01T00:00:00Z',
    lastSeenAt: '2026-05-06T09:59:00Z',
    lastChangedAt: '2026-05-01T00:00:00Z',
    lastChangedBy: BENCH,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-rollout-steps-'));
const db = openDatabase(join(dir, 'hub.db'));
seedTargets(
  db,
  Array.from({ length: TARGETS }, (_, i) => makeTarget(i)),
  0,
);
const keys = { hub: generateKeyPair(), root: generateKeyPair() };
const hub = await createHub({
  db,
  log: pino({ level: 'silent' }),
  keys,
  audit: (d) => new AuditLog({ db: d, clock: Date.now, signer: keys.hub }),
  checkpointIntervalMs: 0,
  rolloutPollMs: 0,
});
const releaseKey = generateKeyPair();
hub.services.trust.addReleaseKey(releaseKey.publicKey, 'bench', BENCH);
const bundle = signBundle(
  {
    apiVersion: API_VERSION,
    kind: 'Bundle',
    name: 'app',
    version: '1.0.0',
    resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: {} }],
  },
  [releaseKey],
);
hub.services.bundles.publish(bundle, OPERATOR);
const rollouts = hub.services.rollouts;
const controller = rollouts.controller;

// Every issued member reports the generation that carries the release, applied and healthy.
const report = db.prepare(`UPDATE targets SET observed_seq = observed_seq + 1,
  observed = json_object('seq', observed_seq + 1, 'generation', desired_generation, 'phase', 'applied', 'health', 'healthy', 'bundles', json(desired_bundles), 'reportedAt', '2026-05-06T10:00:00Z')
  WHERE id IN (SELECT m.target_id FROM rollout_members m JOIN targets t ON t.id = m.target_id
    WHERE m.rollout_id = ? AND m.issued = 1 AND coalesce(json_extract(t.observed, '$.generation'), -1) < t.desired_generation
    LIMIT 500)`);

/** Reports arrive a few hundred at a time, with the event loop free between them, as from agents. */
async function reportAll(id: string): Promise<void> {
  while (report.run(id).changes > 0) await sleep(0);
}

async function drained(): Promise<void> {
  // The background batches run on the event loop; wait for them as a served hub would.
  while (anyUnissued()) await sleep(5);
}
const unissued = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM rollout_members WHERE issued = 0');
function anyUnissued(): boolean {
  return unissued.get()!.n > 0;
}

await sleep(50);
const delay = new LoopDelay();
const started = performance.now();
const created = rollouts.create({ release: 'app@1.0.0', selector: 'fleet=bench', waves: WAVES }, BENCH);
const createMs = performance.now() - started;
const id = created.rollout.id;
// What follows the answer: the reconcile it scheduled, then the first wave's envelopes.
await sleep(0);
await drained();
const stateOf = db.prepare<[string], { state: string }>('SELECT state FROM rollouts WHERE id = ?');
const passes: number[] = [];
const idlePasses: number[] = [];
const giveUpAt = performance.now() + 180_000;
for (let round = 0; performance.now() < giveUpAt; round++) {
  // Read from the store: a finished rollout's status reads every member, which is no step of the walk.
  if (stateOf.get(id)!.state !== 'running') break;
  await reportAll(id);
  const t = performance.now();
  controller.reconcileAll();
  passes.push(performance.now() - t);
  await drained();
  await sleep(20);
  // A pass with nothing to do, after every round: the first in the canary wave, the last once
  // the last wave holds every target, as a fleet's passes do while its agents report.
  if (stateOf.get(id)!.state === 'running') {
    const idle = performance.now();
    controller.reconcileAll();
    idlePasses.push(performance.now() - idle);
  }
}
const loopDelayMaxMs = delay.worstMs();
const finalView = rollouts.view(id, 'none', 0);
process.stderr.write(
  `rollout ${finalView.state} over ${finalView.selected} targets; passes ${passes.map((p) => p.toFixed(0)).join(', ')} ms\n`,
);
await hub.close();
db.close();
rmSync(dir, { recursive: true, force: true });
const round1 = (n: number): number => Math.round(n * 10) / 10;
console.log(
  JSON.stringify({
    name: 'rollout-steps',
    targets: TARGETS,
    state: finalView.state,
    create_ms: round1(createMs),
    pass_max_ms: round1(Math.max(...passes)),
    pass_idle_ms: round1(idlePasses[0] ?? Number.NaN),
    pass_idle_last_ms: round1(idlePasses.at(-1) ?? Number.NaN),
    loop_delay_max_ms: round1(loopDelayMaxMs),
  }),
);
