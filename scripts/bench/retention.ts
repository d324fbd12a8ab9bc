/**
 * Report retention on a real hub data directory (SQLite, WAL, as `flotilla hub serve` opens it):
 * BENCH_REPORTS reports of BENCH_TARGETS targets, each about 1.3 KB of signed JSON as agents
 * send them, all received 31 days ago but for each target's newest; then the hub's clock moves
 * on and one prune removes every report but the newest of each target, in batches of
 * BENCH_BATCH (default the hub's, 500) that each commit and yield the event loop.
 *
 * Figures: the prune's time and rows per second, and the event loop's worst delay and p99
 * meanwhile: the gaps between the turns of a 1 ms timer, the last up to the prune's end (what a
 * request arriving during the prune waits at most); `loadavg` is the one-minute load average
 * at the end.
 *
 * Environment: BENCH_REPORTS (200000), BENCH_TARGETS (2000), BENCH_BATCH (500),
 * BENCH_DATABASE_URL (an empty PostgreSQL database to run on instead of SQLite).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openDatabase, openHub } from '@flotilla/hub';
import type { Db } from '../../packages/hub/src/store/database.ts';
import { openPostgres } from '../../packages/hub/src/store/postgres/postgres-database.ts';
import { quantile } from '../quantile.ts';

const REPORTS = Number(process.env['BENCH_REPORTS'] ?? 200_000);
const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 2000);
const BATCH = process.env['BENCH_BATCH'] === undefined ? undefined : Number(process.env['BENCH_BATCH']);
const DATABASE = process.env['BENCH_DATABASE_URL'] || undefined;
const store = DATABASE === undefined ? {} : { database: DATABASE };
const DAY = 86_400_000;

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-retention-'));
const dataDir = join(dir, 'hub');
const started = Date.now();
try {
  // The schema from a first start, then the rows written straight in: sending them through the
  // API would measure report intake instead.
  const { hub: first } = await openHub({ dataDir, ...store, log: pino({ level: 'silent' }) });
  await first.close();
  const db: Db = DATABASE === undefined ? openDatabase(join(dataDir, 'hub.db')) : openPostgres(DATABASE);
  const ids = Array.from({ length: TARGETS }, (_, i) => `tgt_${i.toString(16).padStart(20, '0')}`);
  const insertTarget = db.prepare(
    `INSERT INTO targets (id, name, status, public_key, key_id, enrolled_at, last_seen_at, last_changed_at, last_changed_by)
     VALUES (?, ?, 'active', ?, ?, ?, NULL, ?, 'bench')`,
  );
  const insertReport = db.prepare(
    'INSERT INTO reports (target_id, seq, generation, received_at, signed) VALUES (?, ?, 1, ?, ?)',
  );
  const resources = Array.from({ length: 10 }, (_, i) => ({
    key: `apps/v1/Deployment/shop/app-${i}`,
    status: 'applied',
    health: 'healthy',
  }));
  const old = started - 31 * DAY;
  db.transaction(() => {
    for (const id of ids) insertTarget.run(id, id, 'A'.repeat(43), `key-${id}`, old, old);
  })();
  const perTarget = Math.ceil(REPORTS / TARGETS);
  for (let seq = 1; seq <= perTarget; seq++) {
    db.transaction(() => {
      ids.forEach((id, i) => {
        const report = {
          apiVersion: 'flotilla.io/v1',
          kind: 'Report',
          targetId: id,
          seq,
          generation: 1,
          phase: 'applied',
          health: 'healthy',
          bundles: [{ name: 'shop', version: '1.0.0', digest: `sha256:${'ab'.repeat(32)}` }],
          resources,
          facts: { driver: 'kubernetes', kubernetesVersion: 'v1.30.2', nodes: 3 },
          observedAt: new Date(old + seq * 60_000).toISOString(),
        };
        const signed = JSON.stringify({
          report,
          signature: { keyId: `key-${id}`, alg: 'ed25519', sig: 'x'.repeat(86) },
        });
        // Each target's newest arrives now; the rest are past a 30-day retention.
        insertReport.run(id, seq, seq === perTarget ? started : old + seq * 60_000 + i, signed);
      });
    })();
  }
  const rows = (db.prepare('SELECT count(*) AS n FROM reports').get() as { n: number }).n;
  const bytes = (db.prepare('SELECT sum(length(signed)) AS b FROM reports').get() as { b: number }).b;
  db.close();

  // A clock that stands 31 days back at start, so the prune at start finds nothing; then moves on.
  let offset = -31 * DAY;
  const { hub } = await openHub({
    dataDir,
    ...store,
    log: pino({ level: 'silent' }),
    clock: () => Date.now() + offset,
    ...(BATCH === undefined ? {} : { reportPruneBatch: BATCH }),
  });
  try {
    // The prune at start looks at every target and finds nothing old; it ends before the clock moves.
    await hub.services.reportRetention.prune();
    offset = 0;
    const gaps: number[] = [];
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 1);
    const t0 = performance.now();
    const pruned = await hub.services.reportRetention.prune();
    const end = performance.now();
    clearInterval(ticker);
    gaps.push(end - last);
    const seconds = (end - t0) / 1000;
    gaps.sort((a, b) => a - b);
    if (pruned === undefined || pruned.removed !== rows - TARGETS) {
      process.stderr.write(`the prune removed ${pruned?.removed} of ${rows - TARGETS} reports\n`);
      process.exit(1);
    }
    process.stdout.write(
      `reports=${rows} (${(bytes / 1e6).toFixed(0)} MB of signed JSON) targets=${TARGETS} batch=${BATCH ?? 500} pruned=${pruned.removed} in ${seconds.toFixed(2)}s\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        name: 'retention',
        store: DATABASE === undefined ? 'sqlite' : 'postgres',
        reports: rows,
        targets: TARGETS,
        batch: BATCH ?? 500,
        pruned: pruned.removed,
        prune_s: Number(seconds.toFixed(2)),
        pruned_per_s: Math.round(pruned.removed / seconds),
        loop_delay_max_ms: Number(gaps.at(-1)!.toFixed(1)),
        loop_delay_p99_ms: Number(quantile(gaps, 0.99)!.toFixed(1)),
        loadavg: Number(loadavg()[0]!.toFixed(2)),
      })}\n`,
    );
  } finally {
    await hub.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
