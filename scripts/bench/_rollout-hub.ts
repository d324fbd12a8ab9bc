/**
 * The hub of the rollout and fleet benchmarks, in a process of its own so that its CPU time,
 * RSS and event-loop delay are its own. Run with `--import tsx` and an IPC channel; argv[2] is
 * the data directory. It answers `usage` with process.resourceUsage(), RSS, the open streams,
 * the CPU time of its main thread alone (the event loop's, on Linux), the event loop's worst
 * delay since the last `usage` (then starts a new histogram), and
 * the controller's counters; `notices` {count} with the epoch ms at which the streams had sent
 * that many notices; and exits on `stop`. With BENCH_HUB_MEMLOG=FILE it appends its
 * process.memoryUsage() to FILE every 100 ms, one JSON line each with the epoch ms, so a peak
 * can be told apart by what it is made of and when it came. With BENCH_HUB_LOOPLOG=FILE a timer
 * due every millisecond notes when each of its turns ran (the monotonic clock in µs, as V8's
 * CPU profiles count it) and how many notices the streams had sent by then, and writes the
 * turns that came 10 ms or more late, and those in which notices went out, to FILE as JSON
 * lines on `stop`: the event loop's long turns, to find in a profile (BENCH_HUB_PROFILE); with
 * them the garbage collections of 10 ms or more (`gcMs`, and V8's `kind`: 1 scavenge, 2 mark-
 * compact, 4 incremental marking, 8 weak callbacks), their start on the same clock.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { pino } from 'pino';
import { connectionCap, openHub, openFileLimit } from '@flotilla/hub';
import { LoopDelay } from './_loop-delay.ts';

const dataDir = process.argv[2];
if (dataDir === undefined || process.send === undefined) {
  process.stderr.write('usage: node --import tsx _rollout-hub.ts DATA_DIR (with an IPC channel)\n');
  process.exit(2);
}
const send = process.send.bind(process);
const maxConnections = connectionCap(openFileLimit());
const opened = await openHub({
  dataDir,
  log: pino({ level: process.env['BENCH_HUB_LOG'] ?? 'silent' }),
  maxWaitSeconds: 60,
  // The report intake's worker threads; unset: the hub's default.
  ...(process.env['BENCH_REPORT_WORKERS'] === undefined
    ? {}
    : { reportWorkers: Number(process.env['BENCH_REPORT_WORKERS']) }),
  // As `flotilla hub serve` does: connections capped below the open-file limit.
  ...(maxConnections === undefined ? {} : { maxConnections }),
});
// Thousands of agents connect within seconds: a deep accept queue (Node's default is 511)
// spares them SYN retries; the kernel caps it at net.core.somaxconn.
const server = opened.hub.server;
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 }, resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const streams = opened.hub.services.streams;
const delay = new LoopDelay();
const memLog = process.env['BENCH_HUB_MEMLOG'];
if (memLog !== undefined)
  setInterval(
    () => appendFileSync(memLog, `${JSON.stringify({ at: Date.now(), ...process.memoryUsage() })}\n`),
    100,
  ).unref();
const loopLog = process.env['BENCH_HUB_LOOPLOG'];
const turns: ({ atUs: number; lateMs: number; notices: number } | { atUs: number; gcMs: number; kind: number })[] = [];
if (loopLog !== undefined) {
  // Collections of 10 ms or more, on the same clock: which long turns were the garbage collector's.
  new PerformanceObserver((list) => {
    const nowUs = Number(process.hrtime.bigint() / 1000n);
    const since = performance.now();
    for (const entry of list.getEntries())
      if (entry.duration >= 10)
        turns.push({
          atUs: Math.round(nowUs - (since - entry.startTime) * 1000),
          gcMs: Number(entry.duration.toFixed(2)),
          kind: (entry as unknown as { detail: { kind: number } }).detail.kind,
        });
  }).observe({ entryTypes: ['gc'] });
  let last = process.hrtime.bigint();
  let notices = 0;
  setInterval(() => {
    const now = process.hrtime.bigint();
    const lateMs = Number(now - last) / 1e6 - 1;
    last = now;
    if (lateMs >= 10 || streams.stats.notices !== notices)
      turns.push({ atUs: Number(now / 1000n), lateMs: Number(lateMs.toFixed(2)), notices: streams.stats.notices });
    notices = streams.stats.notices;
  }, 1).unref();
}
send({ type: 'ready', url, adminToken: opened.createdAdminToken, maxConnections });

/** The main thread's user and system CPU in microseconds, from /proc (fields 14 and 15, in clock ticks of 10 ms); undefined elsewhere. */
function mainThreadCpuMicros(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

process.on('message', (message: { type: string; count?: number }) => {
  if (message.type === 'usage') {
    const usage = process.resourceUsage();
    const loopDelayMaxMs = delay.worstMs();
    delay.restart();
    const memory = process.memoryUsage();
    send({
      type: 'usage',
      cpuMicros: usage.userCPUTime + usage.systemCPUTime,
      mainCpuMicros: mainThreadCpuMicros(),
      maxRssKb: usage.maxRSS,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      streams: streams.size,
      streamStats: streams.stats,
      loopDelayMaxMs,
      controller: opened.hub.services.rollouts.controller.stats,
      issuer: opened.hub.services.rollouts.controller.issuer.stats,
    });
  } else if (message.type === 'notices') {
    const target = message.count ?? 0;
    const check = setInterval(() => {
      if (streams.stats.notices < target) return;
      clearInterval(check);
      send({ type: 'notices', at: Date.now() });
    }, 2);
  } else if (message.type === 'stop') {
    if (loopLog !== undefined) writeFileSync(loopLog, turns.map((t) => JSON.stringify(t)).join('\n'));
    void opened.hub.close().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
