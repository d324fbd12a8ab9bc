import { API_VERSION, FlotillaError, digestOf } from '@flotilla/protocol';
import {
  AUDIT_ELIDED_PER_LINE,
  AUDIT_GENESIS_HASH,
  AuditIncludedDigest,
  hashAuditBody,
  type AuditCheckpoint,
  type AuditExportHeader,
  type AuditExportKey,
  type SignedAuditCheckpoint,
} from '@flotilla/protocol/audit';
import { decodeAuditEntry, type AuditStore } from './audit-store.ts';

/** Entries read per statement: small enough that no read holds the database for long. */
const PAGE = 1_000;

export interface AuditExportPlan {
  readonly since: string | null;
  readonly until: string | null;
  readonly sinceMs: number | undefined;
  readonly untilMs: number | undefined;
  /** Sorted, distinct target ids; null exports every entry in full. */
  readonly targets: readonly string[] | null;
  /** A scoped reader's targets: an entry naming any other target is elided too. */
  readonly within?: ReadonlySet<string>;
}

export interface AuditExportContext {
  readonly store: AuditStore;
  /** Signs and stores a checkpoint over the head: every export begins with one. */
  checkpointHead(): SignedAuditCheckpoint;
  sign(checkpoint: AuditCheckpoint): SignedAuditCheckpoint;
  readonly signerKey: AuditExportKey;
  now(): string;
}

export interface AuditExportStats {
  from: number;
  to: number;
  included: number;
  elided: number;
}

/**
 * The lines of an export, each ending in `\n`, produced lazily page by page so that a large
 * export streams without holding the log in memory or the database busy between pages.
 * `onDone` receives counts once the seal is written. Format: docs/audit-format.md.
 */
export function* auditExportLines(
  ctx: AuditExportContext,
  plan: AuditExportPlan,
  onDone: (stats: AuditExportStats) => void,
): Generator<string, void, undefined> {
  const { store } = ctx;
  const head = ctx.checkpointHead().checkpoint;
  const anchor = store.anchor();
  const start = anchor === undefined ? { seq: 0, hash: AUDIT_GENESIS_HASH } : { seq: anchor.seq, hash: anchor.hash };

  let from = start.seq + 1;
  if (plan.sinceMs !== undefined)
    from = Math.max(from, Math.min(store.firstSeqAtOrAfter(plan.sinceMs) ?? head.seq + 1, head.seq + 1));
  let to = head.seq;
  if (plan.untilMs !== undefined) to = Math.min(to, store.lastSeqBefore(plan.untilMs) ?? start.seq);
  // An empty window still yields a verifiable export: no entries, sealed at its base.
  if (to < from - 1) to = from - 1;
  const baseSeq = from - 1;
  const baseHash = baseSeq === start.seq ? start.hash : store.entryAt(baseSeq)?.hash;
  if (baseHash === undefined) throw pruned(baseSeq);

  const checkpoints = store.checkpointsBetween(baseSeq, to);
  const keys = new Map<string, AuditExportKey>([[`${ctx.signerKey.id} ${ctx.signerKey.publicKey}`, ctx.signerKey]]);
  for (const row of checkpoints)
    keys.set(`${row.key_id} ${row.public_key}`, { id: row.key_id, publicKey: row.public_key });

  const header: AuditExportHeader = {
    kind: 'header',
    apiVersion: API_VERSION,
    exportedAt: ctx.now(),
    filter: { since: plan.since, until: plan.until, targets: plan.targets === null ? null : [...plan.targets] },
    base: { seq: baseSeq, hash: baseHash },
    toSeq: to,
    keys: [...keys.values()],
  };
  yield `${JSON.stringify(header)}\n`;
  // Stored checkpoints are `{"checkpoint":…,"signature":…}`: prefixing the kind makes the line.
  for (const row of checkpoints) yield `{"kind":"checkpoint",${row.signed.slice(1)}\n`;

  const included = new AuditIncludedDigest();
  let elided = 0;
  let run: { seq: number; bodyHashes: string[] } | undefined;
  const flush = function* (): Generator<string, void, undefined> {
    if (run === undefined) return;
    yield `${JSON.stringify({ kind: 'elided', seq: run.seq, bodyHashes: run.bodyHashes })}\n`;
    run = undefined;
  };

  let lastHash = baseHash;
  let expected = from;
  while (expected <= to) {
    const pageEnd = Math.min(to, expected + PAGE - 1);
    const rows = store.page(expected, pageEnd, PAGE);
    const keep = plan.targets === null ? null : new Set(store.subjectSeqs(plan.targets, expected, pageEnd));
    if (rows.length === 0) throw pruned(expected);
    for (const row of rows) {
      if (row.seq !== expected) throw pruned(expected);
      const within = plan.within;
      if (
        (keep === null || keep.has(row.seq)) &&
        (within === undefined || decodeAuditEntry(row.entry).subjects.every((id) => within.has(id)))
      ) {
        yield* flush();
        // The stored JSON is the entry as hashed; prefixing the kind makes the line.
        yield `{"kind":"entry",${row.entry.slice(1)}\n`;
        included.add(row.hash);
      } else {
        const bodyHash = hashAuditBody(decodeAuditEntry(row.entry));
        if (run === undefined) run = { seq: row.seq, bodyHashes: [bodyHash] };
        else run.bodyHashes.push(bodyHash);
        elided++;
        if (run.bodyHashes.length === AUDIT_ELIDED_PER_LINE) yield* flush();
      }
      lastHash = row.hash;
      expected++;
    }
  }
  yield* flush();

  const seal = ctx.sign({
    apiVersion: API_VERSION,
    kind: 'AuditCheckpoint',
    seq: to,
    hash: lastHash,
    time: ctx.now(),
    export: { header: digestOf(header), included: included.digest(), count: included.count },
  });
  yield `${JSON.stringify({ kind: 'seal', checkpoint: seal.checkpoint, signature: seal.signature })}\n`;
  onDone({ from, to, included: included.count, elided });
}

function pruned(seq: number): FlotillaError {
  return new FlotillaError(
    'CONFLICT',
    `audit entry ${seq} was pruned while the export was being written; export again`,
    { seq },
  );
}
