/**
 * The hub of the rollout benchmark, in a process of its own so that its CPU time and peak
 * RSS are its own. Run by scripts/bench/rollout.ts with `--import tsx` and an IPC channel:
 * it answers `usage` with process.resourceUsage() and exits on `stop`.
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { openHub } from '@flotilla/hub';

const dataDir = process.argv[2];
if (dataDir === undefined || process.send === undefined) {
  process.stderr.write('usage: node --import tsx _rollout-hub.ts DATA_DIR (with an IPC channel)\n');
  process.exit(2);
}
const send = process.send.bind(process);
const opened = await openHub({
  dataDir,
  log: pino({ level: process.env['BENCH_HUB_LOG'] ?? 'silent' }),
  maxWaitSeconds: 60,
});
// Ten thousand agents connect within seconds: a deep accept queue (Node's default is 511)
// spares them SYN retries; the kernel caps it at net.core.somaxconn.
const server = opened.hub.server;
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 }, resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
send({ type: 'ready', url, adminToken: opened.createdAdminToken });

process.on('message', (message: { type: string }) => {
  if (message.type === 'usage') {
    const usage = process.resourceUsage();
    send({
      type: 'usage',
      cpuMicros: usage.userCPUTime + usage.systemCPUTime,
      maxRssKb: usage.maxRSS,
      rss: process.memoryUsage().rss,
      controller: opened.hub.services.rollouts.controller.stats,
    });
  } else if (message.type === 'stop') {
    void opened.hub.close().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
