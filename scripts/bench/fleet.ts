/**
 * One hub holding a fleet on the push stream: 18,000 simulated agents (the fleet simulator's,
 * in a few processes, each agent with its own key and connection) enroll, connect, idle, and
 * take a rollout of one wave to all of them.
 *
 * Figures: enrollments per second; the hub's RSS per connected target at idle (the median of
 * samples less the RSS of the same hub before any agent enrolled, over the agents); its CPU
 * seconds per idle minute and the event loop's worst delay meanwhile; the time `POST /v1/rollouts` takes and the event loop's worst delay
 * from then until convergence; the time from creation until the hub had sent its notice to
 * every member, and until every member's report was taken; report ingestion (reports per
 * second over the burst, p99 of each report's round trip); the hub's peak RSS, its median RSS
 * over the idle samples and the ratio of the two.
 *
 * A report's round trip is timed twice. `report_p99_ms` from the agent's call: with the wait
 * for one of its process's 32 shared connections, behind the other agents' envelope and bundle
 * fetches (4,500 agents a process), a queue in the simulator that no agent with a connection
 * of its own has. `report_wire_p99_ms` from when the report went on a connection (undici's
 * diagnostics channel, scripts/sim/wire-clock.ts) to its answer: the hub's own latency.
 *
 * Options: `--agents N` (or BENCH_AGENTS; 18000). Environment: BENCH_AGENT_PROCS (4), BENCH_IDLE_S (seconds of idle
 * measured, 60), BENCH_HUB_PROFILE=DIR (a V8 CPU profile of the hub), BENCH_SIM_PROFILE=DIR (one of each
 * simulator process), BENCH_HUB_MEMLOG=FILE (the hub's memory every 100 ms, see _rollout-hub.ts),
 * BENCH_SIM_NICE (the simulator processes' nice value; 0).
 *
 * The rollout's CPU cost per agent is measured on both sides: the hub's, and the simulator
 * processes' (the agents' side: the notice, the envelope and bundle fetches, the report's
 * signature), each from the rollout's creation until every report was taken.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateRolloutResult } from '@flotilla/protocol/api';
import { ask, child, next, stopAll } from '../sim/processes.ts';
import type { Job } from '../sim/sim-worker.ts';
import { agentCount, benchEnrollmentToken, publishRelease, startBenchHub, type BenchHub } from './_hub-process.ts';
import { quantile } from '../quantile.ts';

const AGENTS = agentCount(18_000);
const PROCS = Number(process.env['BENCH_AGENT_PROCS'] ?? 4);
const IDLE_S = Number(process.env['BENCH_IDLE_S'] ?? 60);
/**
 * The simulator processes' nice value: 0 (the default) shares the cores with the hub evenly;
 * higher stands in for agents on machines of their own, which never take the hub's CPU.
 */
const SIM_NICE = Number(process.env['BENCH_SIM_NICE'] ?? 0);
if (!Number.isInteger(SIM_NICE) || SIM_NICE < 0 || SIM_NICE > 19)
  throw new Error(`BENCH_SIM_NICE must be a whole number from 0 to 19; received ${process.env['BENCH_SIM_NICE']}`);
const LIMIT_MS = 300_000;

const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (line: string): boolean => process.stderr.write(`${line}\n`);

async function until(what: string, probe: () => Promise<boolean>, limitMs = LIMIT_MS): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-fleet-'));
let hub: BenchHub | undefined;
const agents: ChildProcess[] = [];
try {
  hub = await startBenchHub(join(dir, 'hub'));
  const { url } = hub;
  const usage = hub.usage;
  log(`hub at ${url}, connections capped at ${hub.maxConnections ?? 'none'}`);
  await publishRelease(hub, 'app', '2.0.0');
  const token = await benchEnrollmentToken(hub, AGENTS);
  await sleep(1000);
  const empty = await usage();

  const per = Math.ceil(AGENTS / PROCS);
  for (let p = 0; p * per < AGENTS; p++) {
    const job: Job = {
      url,
      enrollToken: token,
      count: Math.min(per, AGENTS - p * per),
      prefix: `fleet${p}`,
      transport: 'auto',
      waitSeconds: 30,
      reconnectWindowMs: 30_000,
      concurrency: 16,
    };
    const sim = child('../sim/sim-worker.ts', import.meta.url, [JSON.stringify(job)], process.env['BENCH_SIM_PROFILE']);
    // Set before the process starts its threads, which inherit it.
    if (SIM_NICE > 0 && sim.pid !== undefined) setPriority(sim.pid, SIM_NICE);
    agents.push(sim);
  }
  const enrolled = await Promise.all(agents.map((a) => next(a, 'enrolled')));
  const afterEnroll = await usage();
  const enrollS = Math.max(...enrolled.map((m) => m['enrollMs'] as number)) / 1000;
  const spanS =
    (Math.max(...enrolled.map((m) => m['endedAt'] as number)) -
      Math.min(...enrolled.map((m) => m['startedAt'] as number))) /
    1000;
  const enrollHubCpuUs = Math.round((afterEnroll.cpuMicros - empty.cpuMicros) / AGENTS);
  const enrollSimCpuUs = Math.round(enrolled.reduce((n, m) => n + (m['cpuMicros'] as number), 0) / AGENTS);
  log(
    `enrolled ${AGENTS} in ${enrollS.toFixed(1)} s (the slowest process; ${spanS.toFixed(1)} s from the first start to the last end); ` +
      `CPU per enrollment: hub ${enrollHubCpuUs} µs, simulator ${enrollSimCpuUs} µs`,
  );
  await until(`${AGENTS} streams`, async () => {
    const u = await usage();
    log(`  streams open ${u.streams}, refused so far ${u.streamStats.refused}`);
    return u.streams >= AGENTS;
  });

  // Idle: the hub pings every 30 s and nothing changes.
  await sleep(5000);
  const idleStart = await usage();
  log(`idle from ${Date.now()} (epoch ms)`);
  const rssSamples: number[] = [];
  const heapSamples: number[] = [];
  const externalSamples: number[] = [];
  // The event loop's worst delay at idle: the heartbeat once pinged every stream in one turn.
  let idleLoopDelayMaxMs = 0;
  for (let s = 0; s < IDLE_S; s++) {
    await sleep(1000);
    const u = await usage();
    idleLoopDelayMaxMs = Math.max(idleLoopDelayMaxMs, u.loopDelayMaxMs);
    rssSamples.push(u.rss);
    heapSamples.push(u.heapUsed);
    externalSamples.push(u.external);
  }
  const idleEnd = await usage();
  const idleCpuPerMin = ((idleEnd.cpuMicros - idleStart.cpuMicros) / 1e6) * (60 / IDLE_S);
  const perTargetKb = (median(rssSamples) - empty.rss) / 1024 / AGENTS;
  const kbPer = (samples: number[], base: number): string => ((median(samples) - base) / 1024 / AGENTS).toFixed(1);
  log(
    `idle: rss ${Math.round(median(rssSamples) / 2 ** 20)} MB (empty hub ${Math.round(empty.rss / 2 ** 20)} MB); ` +
      `per target: rss ${perTargetKb.toFixed(1)} KB = JS heap ${kbPer(heapSamples, empty.heapUsed)} KB + ` +
      `buffers ${kbPer(externalSamples, empty.external)} KB + the rest (SQLite page cache, sockets, allocator)`,
  );

  const before = await usage(); // and a fresh loop-delay histogram from here
  const simCpuMicros = async (): Promise<number> =>
    (await Promise.all(agents.map((a) => ask(a, 'status')))).reduce((n, s) => n + (s['cpuMicros'] as number), 0);
  const simBefore = await simCpuMicros();
  const noticesBefore = idleEnd.streamStats.notices;
  const noticed = ask(hub.proc, 'notices', { count: noticesBefore + AGENTS });
  const t0 = Date.now();
  await hub.call(CreateRolloutResult, 'POST', '/v1/rollouts', {
    release: 'app@2.0.0',
    selector: 'fleet=bench',
    waves: 'all:100%',
  });
  const createMs = Date.now() - t0;
  log(`rollout created at ${t0} (epoch ms)`);
  const notifiedAt = ((await noticed) as unknown as { at: number }).at;
  await until('every agent to report 2.0.0 applied', async () => {
    const counts = await Promise.all(agents.map((a) => ask(a, 'status')));
    const applied = counts.reduce(
      (n, s) => n + Object.values(s['applied'] as Record<string, number>).reduce((m, k) => m + k, 0),
      0,
    );
    return applied >= AGENTS;
  });
  const during = await usage();
  // The agents' timings once, after: every poll asking for them had each simulator process
  // serialize thousands of them (and this process parse them) while the rollout ran, CPU that
  // was counted as the simulated agents' and taken from the hub's two cores.
  const statuses = await Promise.all(agents.map((a) => ask(a, 'status', { timings: true })));
  const simAfter = statuses.reduce((n, s) => n + (s['cpuMicros'] as number), 0);
  log(`every agent applied by ${Date.now()} (epoch ms)`);
  const idleRssMb = mb(median(rssSamples));
  const peakRssMb = Math.round(during.maxRssKb / 1024);
  const rows = statuses.flatMap((s) => s['timings'] as [number, number, number, number, number][]);
  const reportedAt = rows.map(([, at]) => at).sort((a, b) => a - b);
  const reportMs = rows.map(([, , ms]) => ms).sort((a, b) => a - b);
  const reportWireMs = rows.map(([, , , , ms]) => ms).sort((a, b) => a - b);
  const burstS = (reportedAt.at(-1)! - reportedAt[0]!) / 1000;
  const errors = statuses.reduce((n, s) => n + (s['errors'] as number), 0);
  log(`agent errors ${errors}; stream reconnects ${statuses.reduce((n, s) => n + (s['opens'] as number), 0) - AGENTS}`);

  process.stdout.write(
    `${JSON.stringify({
      name: 'fleet',
      agents: AGENTS,
      sim_nice: SIM_NICE,
      hub_rss_kb_per_target: Number(perTargetKb.toFixed(1)),
      peak_rss_mb: peakRssMb,
      create_ms: createMs,
      loop_delay_max_ms: Number(during.loopDelayMaxMs.toFixed(1)),
      notify_all_ms: notifiedAt - t0,
      converge_ms: reportedAt.at(-1)! - t0,
      hub_cpu_us_per_agent: Math.round((during.cpuMicros - before.cpuMicros) / AGENTS),
      sim_cpu_us_per_agent: Math.round((simAfter - simBefore) / AGENTS),
      reports_per_s: Math.round(AGENTS / Math.max(burstS, 0.001)),
      report_p99_ms: Math.round(quantile(reportMs, 0.99)!),
      report_wire_p99_ms: Math.round(quantile(reportWireMs, 0.99)!),
      enroll_per_s: Math.round(AGENTS / enrollS),
      enroll_hub_cpu_us: enrollHubCpuUs,
      enroll_sim_cpu_us: enrollSimCpuUs,
      idle_cpu_s_per_min: Number(idleCpuPerMin.toFixed(2)),
      idle_loop_delay_max_ms: Number(idleLoopDelayMaxMs.toFixed(1)),
      idle_rss_mb: idleRssMb,
      peak_vs_idle: Number((peakRssMb / idleRssMb).toFixed(2)),
    })}\n`,
  );
} finally {
  await stopAll([...agents, ...(hub === undefined ? [] : [hub.proc])]);
  rmSync(dir, { recursive: true, force: true });
}
