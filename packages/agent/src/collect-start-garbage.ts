import type { Logger } from 'pino';
import { messageOf } from '@flotilla/protocol';

const MB = 1024 * 1024;

/**
 * Has V8 collect the garbage of the agent's start now, as its memory reducer would on its own
 * 8–16 s after start: a full collection that also compacts the old generation and returns the
 * pages it emptied, about 4 MB for an idle agent (docs/operations.md, "Agent memory"). Meant to
 * run once, when the first observe pass has reported and the agent waits for its next pass;
 * it costs one full collection (tens of milliseconds of CPU for an idle agent).
 *
 * It asks through an inspector session inside the process (no port is opened), whose
 * `HeapProfiler.collectGarbage` is V8's low-memory collection. The `gc()` that `--expose-gc`
 * offers frees the same objects but keeps their pages, so the process holds as much as before.
 * Where Node is built without the inspector, nothing happens.
 */
export async function collectStartGarbage(log: Logger): Promise<void> {
  const rssBefore = process.memoryUsage.rss();
  const cpuBefore = process.cpuUsage();
  try {
    const { Session } = await import('node:inspector');
    const session = new Session();
    session.connect();
    try {
      await new Promise<void>((resolve, reject) =>
        session.post('HeapProfiler.collectGarbage', (error) => (error === null ? resolve() : reject(error))),
      );
    } finally {
      session.disconnect();
    }
  } catch (error) {
    log.debug({ err: messageOf(error) }, 'start garbage left to V8');
    return;
  }
  const cpu = process.cpuUsage(cpuBefore);
  log.debug(
    {
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      rssBeforeMb: Math.round((rssBefore / MB) * 10) / 10,
      rssAfterMb: Math.round((process.memoryUsage.rss() / MB) * 10) / 10,
    },
    'start garbage collected',
  );
}
