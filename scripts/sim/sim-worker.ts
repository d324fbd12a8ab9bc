/**
 * A process of simulated agents (scripts/sim/sim-agent.ts), run by `npm run sim` and the
 * fleet and rollout benchmarks with `--import tsx` and an IPC channel. argv[2] is JSON
 * {@link Job}. It enrolls its agents and sends `enrolled` (how long that took, when, and its CPU time), starts
 * them, answers `status` (applied digests, open streams, errors, CPU time, per-agent
 * timings when asked) and exits on `stop`.
 */
import { setMaxListeners } from 'node:events';
import { Pool } from 'undici';
import type { Transport } from '@flotilla/agent';
import { messageOf } from '@flotilla/protocol';
import { SimAgent, Slots, type SimContext } from './sim-agent.ts';
import { WireClock } from './wire-clock.ts';

/** What one worker simulates. */
export interface Job {
  readonly url: string;
  readonly enrollToken: string;
  readonly count: number;
  readonly prefix: string;
  readonly transport: Transport;
  readonly waitSeconds: number;
  readonly reconnectWindowMs: number;
  /** Enrollments in flight at once. */
  readonly concurrency: number;
  /** Keep each report's latency on the wire until a `status` asks for them with `latencies` (`npm run sim`). */
  readonly latencies?: boolean;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const send = process.send!.bind(process);
let errors = 0;
/** Reports' latencies on the wire since the last `status` that took them. */
let latencies: number[] = [];
const ctx: SimContext = {
  url: job.url,
  transport: job.transport,
  waitSeconds: job.waitSeconds,
  reconnectWindowMs: job.reconnectWindowMs,
  tokenSlots: new Slots(32),
  driftPolicies: new Map(),
  calls: new Pool(job.url, { connections: 32, keepAliveTimeout: 120_000, connect: { timeout: 60_000 } }),
  polls: new Pool(job.url, {
    connections: job.transport === 'long-poll' ? job.count : 1,
    keepAliveTimeout: 120_000,
    headersTimeout: (job.waitSeconds + 30) * 1000,
    bodyTimeout: (job.waitSeconds + 30) * 1000,
    connect: { timeout: 60_000 },
  }),
  wire: new WireClock((method, path) => method === 'POST' && path.endsWith('/reports')),
  ...(job.latencies === true ? { onReport: (wireMs: number) => latencies.push(wireMs) } : {}),
  error: (agent, error) => {
    errors++;
    if (errors <= 5) process.stderr.write(`sim agent ${agent}: ${messageOf(error)}\n`);
  },
};

const agents = Array.from({ length: job.count }, (_, i) => new SimAgent(`${job.prefix}-${i}`, ctx));
const abort = new AbortController();
// Every agent's stream and wait listens to this one signal.
setMaxListeners(0, abort.signal);
const enrollStarted = performance.now();
const enrollCpu = process.cpuUsage();
let next = 0;
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    while (next < agents.length) await agents[next++]!.enroll(job.enrollToken);
  }),
);
const enrollCpuSpent = process.cpuUsage(enrollCpu);
send({
  type: 'enrolled',
  count: agents.length,
  enrollMs: performance.now() - enrollStarted,
  // When, on the wall clock, so that a benchmark can take the span of all processes together.
  startedAt: performance.timeOrigin + enrollStarted,
  endedAt: Date.now(),
  cpuMicros: enrollCpuSpent.user + enrollCpuSpent.system,
});
for (const agent of agents) void agent.run(abort.signal);

process.on('message', (message: { type: string; timings?: boolean; latencies?: boolean }) => {
  if (message.type === 'status') {
    const applied: Record<string, number> = {};
    let open = 0;
    let opens = 0;
    for (const agent of agents) {
      if (agent.applied !== undefined) applied[agent.applied] = (applied[agent.applied] ?? 0) + 1;
      if (agent.stream?.state === 'open') open++;
      opens += agent.stream?.opens ?? 0;
    }
    const usage = process.resourceUsage();
    const taken = latencies;
    if (message.latencies === true) latencies = [];
    send({
      type: 'status',
      applied,
      open,
      opens,
      errors,
      cpuMicros: usage.userCPUTime + usage.systemCPUTime,
      ...(message.timings === true
        ? { timings: agents.map((a) => [a.receivedAt, a.reportedAt, a.reportMs, a.stream?.opens ?? 0, a.reportWireMs]) }
        : {}),
      ...(message.latencies === true ? { latencies: taken } : {}),
    });
  } else if (message.type === 'stop') {
    abort.abort();
    ctx.wire?.close();
    void Promise.all([ctx.polls.destroy(), ctx.calls.destroy()]).finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
