/**
 * `npm run sim -- --agents N --hub URL --enroll-token TOKEN`: a simulated fleet for sizing a
 * hub (docs/operations.md, "Sizing"). N lightweight agents in a few processes, each with its
 * own key, speaking the real protocol over the push stream (or long-polls): they enroll,
 * hold their stream, fetch each new envelope and its bundles, and report it applied. Prints a
 * line of figures every interval (10 s; JSON with --json) until SIGINT or SIGTERM, with the
 * reports the hub answered in it and their latency from when each went on a connection.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ask, child, next, stopAll } from './sim/processes.ts';
import type { Job } from './sim/sim-worker.ts';
import { quantile } from './quantile.ts';

const USAGE = `usage: npm run sim -- --agents N --hub URL --enroll-token TOKEN
  [--procs 4] [--transport auto|long-poll] [--wait-seconds 30] [--reconnect-window-seconds 30]
  [--prefix sim] [--concurrency 16] [--interval-seconds 10] [--json]
The enrollment token needs N uses: flotilla enroll-token create --max-uses N (env FLOTILLA_ENROLL_TOKEN).
Each line: seconds since start, agents, open streams, stream opens, errors, the agents that
applied each release (by digests), and the reports answered in the interval with their p50
and p99 latency in ms, from when each went on one of the process's shared connections.`;

function fail(message: string): never {
  process.stderr.write(`sim: ${message}; 'npm run sim -- --help' shows the options\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      agents: { type: 'string' },
      hub: { type: 'string' },
      'enroll-token': { type: 'string' },
      procs: { type: 'string', default: '4' },
      transport: { type: 'string', default: 'auto' },
      'wait-seconds': { type: 'string', default: '30' },
      'reconnect-window-seconds': { type: 'string', default: '30' },
      prefix: { type: 'string', default: 'sim' },
      concurrency: { type: 'string', default: '16' },
      'interval-seconds': { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  // Node's parseArgs adds sentences of its own after the first, about positionals.
  fail((error as Error).message.split('. ')[0]!);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const whole = (name: string, raw: string | undefined, min: number): number => {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min)
    fail(`--${name} must be a whole number from ${min}, received '${raw}'`);
  return n;
};
const agents = whole('agents', values.agents, 1);
const intervalMs = whole('interval-seconds', values['interval-seconds'], 1) * 1000;
const procs = Math.min(agents, whole('procs', values.procs, 1));
const hub = values.hub ?? fail('--hub URL is required');
if (!/^https?:\/\//.test(hub)) fail(`--hub must be an http(s) URL, received '${hub}'`);
const enrollToken =
  values['enroll-token'] ?? process.env['FLOTILLA_ENROLL_TOKEN'] ?? fail('--enroll-token is required');
const transport = values.transport;
if (transport !== 'auto' && transport !== 'long-poll')
  fail(`--transport must be auto or long-poll, received '${transport}'`);

const per = Math.ceil(agents / procs);
const workers = Array.from({ length: procs }, (_, p) => {
  const job: Job = {
    url: hub.replace(/\/$/, ''),
    enrollToken,
    count: Math.min(per, agents - p * per),
    prefix: `${values.prefix}${p}`,
    transport,
    waitSeconds: whole('wait-seconds', values['wait-seconds'], 0),
    reconnectWindowMs: whole('reconnect-window-seconds', values['reconnect-window-seconds'], 0) * 1000,
    concurrency: whole('concurrency', values.concurrency, 1),
    latencies: true,
  };
  return child('./sim/sim-worker.ts', import.meta.url, [JSON.stringify(job)]);
}).filter((_, p) => p * per < agents);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void stopAll(workers).then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const started = performance.now();
const enrolled = await Promise.all(workers.map((w) => next(w, 'enrolled')));
const enrollS = Math.max(...enrolled.map((m) => m['enrollMs'] as number)) / 1000;
process.stderr.write(`sim: ${agents} agents enrolled in ${enrollS.toFixed(1)} s (${Math.round(agents / enrollS)}/s)\n`);
/** The `q` quantile of `sorted`, rounded to 0.1 ms; null when it is empty. */
function latencyAt(sorted: readonly number[], q: number): number | null {
  const ms = quantile(sorted, q);
  return ms === undefined ? null : Math.round(ms * 10) / 10;
}

while (!stopping) {
  const statuses = await Promise.all(workers.map((w) => ask(w, 'status', { latencies: true })));
  const applied: Record<string, number> = {};
  for (const s of statuses)
    for (const [digests, n] of Object.entries(s['applied'] as Record<string, number>))
      applied[digests] = (applied[digests] ?? 0) + n;
  const latencies = statuses.flatMap((s) => s['latencies'] as number[]).sort((a, b) => a - b);
  const line = {
    seconds: Math.round((performance.now() - started) / 1000),
    agents,
    streams_open: statuses.reduce((n, s) => n + (s['open'] as number), 0),
    stream_opens: statuses.reduce((n, s) => n + (s['opens'] as number), 0),
    errors: statuses.reduce((n, s) => n + (s['errors'] as number), 0),
    applied,
    reports: latencies.length,
    report_p50_ms: latencyAt(latencies, 0.5),
    report_p99_ms: latencyAt(latencies, 0.99),
  };
  const latency = line.reports === 0 ? '' : ` p50=${line.report_p50_ms}ms p99=${line.report_p99_ms}ms`;
  process.stdout.write(
    values.json
      ? `${JSON.stringify(line)}\n`
      : `${line.seconds}s agents=${agents} streams_open=${line.streams_open} opens=${line.stream_opens} errors=${line.errors} applied=${
          Object.entries(applied)
            .map(([d, n]) => `${d.slice(0, 19)}…:${n}`)
            .join(' ') || '-'
        } reports=${line.reports}${latency}\n`,
  );
  await sleep(intervalMs);
}
