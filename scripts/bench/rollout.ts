/**
 * A rollout across 10,000 simulated agents: the time from creating the rollout to every
 * target converged (the rollout completed: every member reported the release applied and
 * healthy, wave after wave, with zero bake time), next to the agents' poll interval, and
 * the hub's CPU seconds and peak RSS.
 *
 * The hub runs in its own process (scripts/bench/_rollout-hub.ts) and reports its
 * process.resourceUsage() over IPC; the agents run in a few processes of their own (the fleet
 * simulator's, scripts/sim/sim-worker.ts), each a minimal protocol client with its own key.
 * It runs once per transport, each with a hub and agents of its own: long-polls, then the
 * push stream, and prints both.
 *
 * Options: `--agents N` (or BENCH_AGENTS; 10000). Environment: BENCH_AGENT_PROCS (4), BENCH_WAIT_S (the long-poll wait,
 * 30), BENCH_WAVES ('canary:1%,early:10%,rest:100%'), BENCH_TRANSPORTS ('long-poll,auto');
 * diagnostics: BENCH_TIMINGS=1 (when agents received their envelope and how long their report
 * took), BENCH_HUB_PROFILE=DIR (a V8 CPU profile of the hub).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import type { Transport } from '@flotilla/agent';
import { CreateRolloutResult, RolloutList, RolloutView } from '@flotilla/protocol/api';
import { ask, child, next, stopAll, type Message } from '../sim/processes.ts';
import type { Job } from '../sim/sim-worker.ts';
import { agentCount, benchEnrollmentToken, publishRelease, startBenchHub, type BenchHub } from './_hub-process.ts';
import { quantile } from '../quantile.ts';

const AGENTS = agentCount(10_000);
const PROCS = Number(process.env['BENCH_AGENT_PROCS'] ?? 4);
const WAIT_S = Number(process.env['BENCH_WAIT_S'] ?? 30);
const WAVES = process.env['BENCH_WAVES'] ?? 'canary:1%,early:10%,rest:100%';
const TRANSPORTS = (process.env['BENCH_TRANSPORTS'] ?? 'long-poll,auto').split(',') as Transport[];
const CONVERGE_LIMIT_MS = 150_000;

interface Figures {
  readonly converge_s: number;
  readonly hub_rss_mb: number;
  readonly hub_cpu_s: number;
}

async function run(transport: Transport): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-rollout-'));
  const started = performance.now();
  let hub: BenchHub | undefined;
  const agents: ChildProcess[] = [];
  try {
    hub = await startBenchHub(join(dir, 'hub'));
    const { url, call } = hub;
    await publishRelease(hub, 'app', '4.3.0');
    const token = await benchEnrollmentToken(hub, AGENTS);

    const per = Math.ceil(AGENTS / PROCS);
    for (let p = 0; p < PROCS; p++) {
      const count = Math.min(per, AGENTS - p * per);
      if (count <= 0) break;
      const job: Job = {
        url,
        enrollToken: token,
        count,
        prefix: `sim${p}`,
        transport,
        waitSeconds: WAIT_S,
        reconnectWindowMs: 30_000,
        concurrency: 16,
      };
      agents.push(child('../sim/sim-worker.ts', import.meta.url, [JSON.stringify(job)]));
    }
    await Promise.all(agents.map((a) => next(a, 'enrolled')));
    const enrolledS = (performance.now() - started) / 1000;
    process.stderr.write(`enrolled ${AGENTS} agents in ${enrolledS.toFixed(1)} s\n`);
    // Let the first long-polls settle (each agent's first poll answers 204 at once).
    await sleep(2000);

    const before = await hub.usage();
    const agentsBefore = await Promise.all(agents.map((a) => ask(a, 'status')));
    const t0 = performance.now();
    const created = await call(CreateRolloutResult, 'POST', '/v1/rollouts', {
      release: 'app@4.3.0',
      selector: 'fleet=bench',
      waves: WAVES,
    });
    const id = created.rollout.id;
    let state: string = created.rollout.state;
    while (state !== 'completed') {
      if (performance.now() - t0 > CONVERGE_LIMIT_MS)
        throw new Error(`the rollout did not complete within ${CONVERGE_LIMIT_MS / 1000} s (state ${state})`);
      if (state !== 'running') throw new Error(`the rollout stopped: ${state}`);
      await sleep(100);
      // The list is cheap (no member evaluation), so polling it does not load the hub.
      const page = await call(RolloutList, 'GET', '/v1/rollouts?limit=1');
      state = page.items.find((r) => r.id === id)?.state ?? state;
    }
    const convergeS = (performance.now() - t0) / 1000;
    const after = await hub.usage();

    const view = await call(RolloutView, 'GET', `/v1/rollouts/${id}?members=none`);
    const statuses = await Promise.all(agents.map((a) => ask(a, 'status', { timings: true })));
    const applied = statuses.reduce(
      (n, s) =>
        n +
        Object.entries(s['applied'] as Record<string, number>).reduce(
          (m, [digests, k]) => m + (digests.includes(view.release.digest) ? k : 0),
          0,
        ),
      0,
    );
    const errors = statuses.reduce((n, s) => n + (s['errors'] as number), 0);
    const agentCpuS = statuses.reduce(
      (n, s, i) => n + ((s['cpuMicros'] as number) - (agentsBefore[i]!['cpuMicros'] as number)) / 1e6,
      0,
    );
    const reconcile = {
      passes: after.controller.passes - before.controller.passes,
      seconds: (after.controller.busyMs - before.controller.busyMs) / 1000,
    };
    if (view.totals.healthy !== AGENTS || applied !== AGENTS)
      throw new Error(
        `converged counts are off: hub says ${view.totals.healthy} healthy, agents say ${applied} applied`,
      );

    if (process.env['BENCH_TIMINGS'] !== undefined) printTimings(view.createdAt, statuses);
    const at = (iso: string | null): string =>
      iso === null ? '-' : ((Date.parse(iso) - Date.parse(view.createdAt)) / 1000).toFixed(1);
    process.stdout.write(
      `waves: ${view.waves.map((w) => `${w.name}(${w.counts.total}) ${at(w.startedAt)}s..${at(w.finishedAt)}s`).join(', ')}\n`,
    );
    process.stdout.write(
      `transport=${transport} agents=${AGENTS} processes=${agents.length} waves=${WAVES} enroll_s=${enrolledS.toFixed(1)} agent_errors=${errors} hub_cpu_total_s=${(after.cpuMicros / 1e6).toFixed(1)} waves_started=${view.waves.filter((w) => w.startedAt !== null).length} agents_cpu_s=${agentCpuS.toFixed(1)} reconcile_passes=${reconcile.passes} reconcile_s=${reconcile.seconds.toFixed(1)}\n`,
    );
    return {
      converge_s: Number(convergeS.toFixed(2)),
      hub_rss_mb: Math.round(after.maxRssKb / 1024),
      hub_cpu_s: Number(((after.cpuMicros - before.cpuMicros) / 1e6).toFixed(2)),
    };
  } finally {
    await stopAll([...agents, ...(hub === undefined ? [] : [hub.proc])]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<string, Figures> = {};
for (const transport of TRANSPORTS) results[transport === 'auto' ? 'stream' : 'long_poll'] = await run(transport);
process.stdout.write(`${JSON.stringify({ name: 'rollout', agents: AGENTS, poll_interval_s: WAIT_S, ...results })}\n`);

/** Diagnostics: when the agents received the envelope, after the rollout was created, and how long until the hub took their report. */
function printTimings(createdAt: string, statuses: readonly Message[]): void {
  const created = Date.parse(createdAt);
  const rows = statuses.flatMap((st) => st['timings'] as [number, number, number, number, number][]);
  const received = rows.map(([r]) => r - created).sort((a, b) => a - b);
  const reported = rows.map(([r, d]) => d - r).sort((a, b) => a - b);
  const line = (xs: readonly number[]): string =>
    `p10 ${quantile(xs, 0.1)} p50 ${quantile(xs, 0.5)} p99 ${quantile(xs, 0.99)} max ${xs.at(-1)}`;
  process.stdout.write(
    `envelope received after create (ms): ${line(received)}; envelope to report taken (ms): ${line(reported)}\n`,
  );
}
