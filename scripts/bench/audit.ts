/**
 * The audit trail's write and verify throughput, on a real hub data directory (SQLite file,
 * WAL, synchronous NORMAL, the chain triggers) opened as `flotilla hub serve` opens it:
 *
 * - appends per second through the hub's write path: `AuditLog.append` inside a store
 *   transaction, one entry per state change, exactly as the services call it;
 * - the same append outside any transaction (how refused attempts are recorded);
 * - `appendMany` in batches, as a separate figure (bulk actions);
 * - an export of the whole log (default 200,000 entries), then its offline verification
 *   with the protocol verifier, and the hub's own chain verification.
 *
 * Environment: BENCH_DURATION_MS (per append phase, 3000), BENCH_ENTRIES (200000),
 * BENCH_BATCH (500).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { keysWithRole } from '@flotilla/protocol';
import { verifyAuditExport, type AuditEntryInput } from '@flotilla/protocol/audit';
import { openHub } from '@flotilla/hub';

const DURATION_MS = Number(process.env['BENCH_DURATION_MS'] ?? 3000);
const ENTRIES = Number(process.env['BENCH_ENTRIES'] ?? 200_000);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 500);
const TARGETS = 1000;

const targetIds = Array.from({ length: TARGETS }, (_, i) => `tgt_${i.toString(16).padStart(20, '0')}`);
let n = 0;
/** A realistic state change: an operator moves a target between statuses. */
function input(): AuditEntryInput {
  n++;
  const from = n % 2 === 0 ? 'active' : 'disabled';
  return {
    actor: { kind: 'user', id: 'bench-operator' },
    action: n % 2 === 0 ? 'target.disable' : 'target.enable',
    subjects: [targetIds[n % TARGETS]!],
    reason: 'benchmark',
    details: { from, to: from === 'active' ? 'disabled' : 'active', request: `bench-${n}` },
  };
}

/** Runs `step` (which appends `per` entries) for DURATION_MS after a short warmup; entries per second. */
function rate(step: () => void, per: number): number {
  for (let i = 0; i < Math.max(1, Math.floor(2000 / per)); i++) step();
  let count = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < DURATION_MS) {
    for (let i = 0; i < 16; i++) step();
    count += 16 * per;
    elapsed = performance.now() - started;
  }
  return Math.round(count / (elapsed / 1000));
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-audit-'));
const { hub } = await openHub({ dataDir: join(dir, 'hub'), log: pino({ level: 'silent' }), checkpointIntervalMs: 0 });
try {
  const { audit, tx } = hub.services;

  const inTransaction = rate(() => tx.run(() => audit.append(input())), 1);
  const standalone = rate(() => audit.append(input()), 1);
  const batched = rate(() => audit.appendMany(Array.from({ length: BATCH }, input)), BATCH);

  const missing = ENTRIES - audit.head.seq;
  for (let left = missing; left > 0; left -= 5000)
    audit.appendMany(Array.from({ length: Math.min(5000, left) }, input));
  const entries = audit.head.seq;

  let started = performance.now();
  const lines = [...audit.exportLines()];
  const exportSeconds = (performance.now() - started) / 1000;
  const bytes = lines.reduce((sum, line) => sum + line.length, 0);

  const trustedKeys = keysWithRole(hub.services.trust.trustRoot, 'hub');
  started = performance.now();
  const result = verifyAuditExport(lines, { trustedKeys });
  const verifySeconds = (performance.now() - started) / 1000;
  if (!result.ok || result.entries !== entries) {
    process.stderr.write(`the export did not verify: ${JSON.stringify(result.problems.slice(0, 3))}\n`);
    process.exit(1);
  }

  started = performance.now();
  const chain = audit.verify();
  const chainSeconds = (performance.now() - started) / 1000;
  if (!chain.ok) {
    process.stderr.write(`the stored chain did not verify: ${JSON.stringify(chain.problems.slice(0, 3))}\n`);
    process.exit(1);
  }

  process.stdout.write(
    `entries=${entries} export=${(bytes / 1e6).toFixed(1)}MB in ${exportSeconds.toFixed(2)}s verify=${verifySeconds.toFixed(2)}s chain_verify=${chainSeconds.toFixed(2)}s append_phase=${DURATION_MS}ms batch=${BATCH}\n`,
  );
  process.stdout.write(
    `${JSON.stringify({
      name: 'audit',
      appends_per_s: inTransaction,
      verify_entries_per_s: Math.round(entries / verifySeconds),
      appends_standalone_per_s: standalone,
      append_many_entries_per_s: batched,
      export_entries_per_s: Math.round(entries / exportSeconds),
      chain_verify_entries_per_s: Math.round(entries / chainSeconds),
      entries,
    })}\n`,
  );
} finally {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
}
