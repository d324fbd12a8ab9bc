import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

// Plain JavaScript: Node 20 workers do not inherit tsx's loader.
// workerData: { url, requests: [{ path, headers }], connections, concurrency, warmupMs, durationMs, expectStatus }
/** Closed-loop load: `concurrency` callers each send a request as soon as the last is answered. */
async function run(job) {
  const pool = new Pool(job.url, { connections: job.connections, pipelining: 1 });
  let counting = false;
  let done = 0;
  let unexpected = 0;
  let stop = false;
  let next = 0;
  const caller = async () => {
    while (!stop) {
      const r = job.requests[next++ % job.requests.length];
      const response = await pool.request({ method: 'GET', path: r.path, headers: r.headers });
      await response.body.dump();
      if (!counting) continue;
      if (response.statusCode === job.expectStatus) done++;
      else unexpected++;
    }
  };
  const callers = Array.from({ length: job.concurrency }, caller);
  await new Promise((resolve) => setTimeout(resolve, job.warmupMs));
  counting = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, job.durationMs));
  counting = false;
  const seconds = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(callers);
  await pool.close();
  return { requests: done, unexpected, seconds };
}

parentPort.postMessage(await run(workerData));
