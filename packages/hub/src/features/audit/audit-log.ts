import type { Db } from '../../store/database.ts';
import { dialectOf } from '../../store/sql.ts';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  API_VERSION,
  FlotillaError,
  TargetId,
  sha256,
  type Actor,
  type KeyPair,
  type TrustedKey,
} from '@flotilla/protocol';
import {
  AUDIT_GENESIS_HASH,
  AUDIT_MAX_BODY_LENGTH,
  AuditEntryInput,
  auditCheckpointSigner,
  canonicalAuditBody,
  hashAuditLink,
  normalizeAuditDetails,
  signAuditCheckpoint,
  verifyAuditChain,
  type AuditCheckpoint,
  type AuditCheckpointSigner,
  type AuditEntry,
  type AuditEntryBody,
  type AuditVerifyResult,
  type SignedAuditCheckpoint,
} from '@flotilla/protocol/audit';
import { decodeAuditCursor, encodeAuditCursor, type AuditOrder } from './audit-cursor.ts';
import { auditExportLines, type AuditExportStats } from './audit-export.ts';
import type { AuditQueryFilter, AuditTime } from './audit-filter.ts';
import { AuditStore, type AuditCheckpointRow, type AuditEntryRow } from './audit-store.ts';
import { nextAuditSalt } from './salt.ts';

export interface AuditLogOptions {
  readonly db: Db;
  /** The hub's clock; epoch milliseconds or a Date. */
  readonly clock: () => Date | number;
  /** The hub key that signs checkpoints: a key pair, or a signer that keeps the key elsewhere. */
  readonly signer: AuditCheckpointSigner | KeyPair;
  readonly log?: Logger;
}

export interface AuditPageOptions {
  /** 1 … 1000; default 100. */
  readonly limit?: number;
  /** `nextCursor` of the previous page, with the same filter and order. */
  readonly cursor?: string | null;
  /** Default `desc`: newest first, as a history is read. */
  readonly order?: AuditOrder;
}

export interface AuditQueryPage {
  readonly entries: AuditEntry[];
  /** Pass back as `cursor` for the next page; null when this page is the last. */
  readonly nextCursor: string | null;
}

export interface AuditExportOptions {
  /** Entries at or after this time (inclusive). */
  readonly since?: AuditTime;
  /** Entries before this time (exclusive). */
  readonly until?: AuditTime;
  /**
   * Carry in full only entries naming one of these targets; every other entry of the range
   * is elided to its body hash. An empty list carries no entry in full.
   */
  readonly targets?: readonly string[];
  /** A scoped reader's targets: an entry naming any target outside them is elided too. */
  readonly within?: ReadonlySet<string>;
}

export interface AuditPruneOptions {
  /** Entries older than this are removed, as a prefix of the log: the first younger entry and all after it stay. */
  readonly olderThan: AuditTime;
  /** Who prunes; recorded in the `audit.prune` entry. Default the system actor `audit-retention`. */
  readonly actor?: Actor;
}

export interface AuditPruneResult {
  readonly removed: number;
  /** The signed checkpoint that now anchors the start of the log; null when nothing was old enough. */
  readonly anchor: SignedAuditCheckpoint | null;
}

interface Head {
  readonly seq: number;
  readonly hash: string;
  readonly timeMs: number;
}

interface Prepared {
  readonly actor: Actor;
  readonly action: string;
  readonly subjects: string[];
  readonly outcome: AuditEntry['outcome'];
  readonly reason: string | null;
  readonly details: AuditEntry['details'];
}

/** How far behind the last entry the clock may be before a warning: NTP steps are small. */
const CLOCK_SKEW_WARNING_MS = 1_000;
const DEFAULT_PAGE = 100;

/**
 * The hub's audit trail: one append-only hash chain in the hub's store (SQLite, or one
 * PostgreSQL database that every replica appends to) with signed checkpoints,
 * queryable by time, actor, action, target and outcome, exportable as verifiable JSONL
 * (whole or filtered to some targets), and prunable by age behind a signed anchor.
 *
 * Appends are synchronous and open their own transaction, or a savepoint inside the caller's,
 * so a state change and its audit entry commit or roll back together. On SQLite the chain head
 * is kept in memory between appends made outside any transaction; inside one it is read from
 * the database, because the caller may yet roll back. On PostgreSQL it is always read inside
 * the append's transaction, after the write lock, so appends from several replicas make one
 * chain with no gap or fork.
 *
 * @example
 * const audit = new AuditLog({ db, clock: () => Date.now(), signer: keys.hub, log });
 * db.transaction(() => {
 *   setLabels(id, labels);
 *   audit.append({ actor, action: 'target.label', subjects: [id], details: { labels } });
 * })();
 */
export class AuditLog {
  private readonly store: AuditStore;
  private readonly db: Db;
  private readonly clock: () => Date | number;
  private readonly signer: AuditCheckpointSigner;
  private readonly log: Logger | undefined;
  private readonly appendBatch: (
    prepared: readonly Prepared[],
    cached: Head | undefined,
  ) => { entries: AuditEntry[]; head: Head };
  /**
   * Whether the committed head may be kept in memory between appends: on SQLite one process
   * owns the file; on PostgreSQL another replica may append at any time, so the head is read
   * in each append's transaction, after the write lock that orders every replica's appends.
   */
  private readonly headCacheable: boolean;
  /** The committed head, when known; cleared whenever it might differ from the database. */
  private cachedHead: Head | undefined;

  constructor(options: AuditLogOptions) {
    if (typeof options.clock !== 'function')
      throw new TypeError(
        `AuditLog: options.clock must be a function returning a Date or epoch milliseconds; received ${typeof options.clock}`,
      );
    if (options.signer === null || typeof options.signer !== 'object')
      throw new TypeError('AuditLog: options.signer must be the hub KeyPair or an AuditCheckpointSigner');
    this.db = options.db;
    this.store = new AuditStore(options.db);
    this.clock = options.clock;
    this.signer = 'seed' in options.signer ? auditCheckpointSigner(options.signer) : options.signer;
    this.log = options.log?.child({ component: 'audit' });
    this.headCacheable = dialectOf(options.db) === 'sqlite';
    this.appendBatch = this.db.transaction((prepared: readonly Prepared[], cached: Head | undefined) => {
      const { entries, rows, head } = this.build(prepared, cached ?? this.readHead());
      for (const { row, subjects } of rows) this.store.insertEntry(row, subjects);
      return { entries, head };
    });
  }

  /** The chain head as the database holds it (including the caller's uncommitted appends). */
  get head(): { readonly seq: number; readonly hash: string } {
    const head = this.readHead();
    return { seq: head.seq, hash: head.hash };
  }

  /**
   * Appends one entry and returns it as stored. Throws `VALIDATION_FAILED` for input that
   * cannot be audited (an action that is not a dotted verb, a subject that is not a target
   * id, details that are not JSON); the caller's transaction then fails with it, as it should.
   */
  append(input: AuditEntryInput): AuditEntry {
    return this.appendMany([input])[0]!;
  }

  /** Appends several entries in one transaction: the fast path for bulk actions and benchmarks. */
  appendMany(inputs: readonly AuditEntryInput[]): AuditEntry[] {
    if (inputs.length === 0) return [];
    const prepared = inputs.map((input) => this.prepare(input));
    const keep = this.headCacheable && !this.db.inTransaction;
    for (let attempt = 1; ; attempt++) {
      const cached = keep ? this.cachedHead : undefined;
      try {
        const { entries, head } = this.appendBatch(prepared, cached);
        this.cachedHead = keep ? head : undefined;
        return entries;
      } catch (error) {
        this.cachedHead = undefined;
        // A constraint failure on a kept head means another writer moved it: rebuild once on the stored head.
        if (attempt === 1 && cached !== undefined && isConstraintError(error)) {
          this.log?.warn({ seq: cached.seq }, 'audit head was stale; rebuilding the entry on the stored head');
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * Entries matching `filter`, newest first unless `order: 'asc'`, a page at a time.
   *
   * @example
   * let page = audit.query({ targets: [id] }, { limit: 50 });
   * while (page.nextCursor !== null) page = audit.query({ targets: [id] }, { limit: 50, cursor: page.nextCursor });
   */
  query(filter: AuditQueryFilter = {}, page: AuditPageOptions = {}): AuditQueryPage {
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new TypeError(`AuditLog.query: limit must be an integer from 1 to 1000; received ${String(limit)}`);
    const order = page.order ?? 'desc';
    let from = 1;
    let to = Number.MAX_SAFE_INTEGER;
    if (filter.since !== undefined)
      from = this.store.firstSeqAtOrAfter(toMs(filter.since, 'since')) ?? Number.MAX_SAFE_INTEGER;
    if (filter.until !== undefined) to = this.store.lastSeqBefore(toMs(filter.until, 'until')) ?? 0;
    if (page.cursor !== undefined && page.cursor !== null) {
      const after = decodeAuditCursor(page.cursor, order);
      if (order === 'desc') to = Math.min(to, after - 1);
      else from = Math.max(from, after + 1);
    }
    if (from > to || filter.targets?.length === 0) return { entries: [], nextCursor: null };
    // One extra row tells whether another page exists without a second query.
    const found = this.store.query(filter, from, to, order, limit + 1);
    const entries = found.slice(0, limit);
    const last = entries.at(-1);
    return {
      entries,
      nextCursor: found.length > limit && last !== undefined ? encodeAuditCursor(order, last.seq) : null,
    };
  }

  /** Signs the current head and keeps the checkpoint. Outside any transaction: it signs committed state. */
  checkpoint(): SignedAuditCheckpoint {
    return this.signHead('manual');
  }

  /** The newest stored checkpoint, and why it was signed; undefined before the first. */
  latestCheckpoint():
    { readonly checkpoint: SignedAuditCheckpoint; readonly reason: AuditCheckpointRow['reason'] } | undefined {
    const row = this.store.lastCheckpoint();
    return row === undefined
      ? undefined
      : { checkpoint: JSON.parse(row.signed) as SignedAuditCheckpoint, reason: row.reason };
  }

  /** A checkpoint if entries were appended since the last one, else undefined: what the interval calls. */
  checkpointIfAdvanced(): SignedAuditCheckpoint | undefined {
    this.assertOutsideTransaction('checkpointIfAdvanced');
    const last = this.store.lastCheckpoint();
    const head = this.readHead();
    if (last !== undefined && last.seq === head.seq && last.hash === head.hash) return undefined;
    return this.signHead('interval');
  }

  /**
   * Signs the head every `everyMs` while it moves. Returns the function that stops it. The
   * timer does not keep the process alive; a failed checkpoint goes to `failed` (default: the
   * log) and the next interval tries again.
   */
  scheduleCheckpoints(everyMs: number, failed?: (error: unknown) => void): () => void {
    if (!Number.isFinite(everyMs) || everyMs < 1_000)
      throw new TypeError(`AuditLog.scheduleCheckpoints: everyMs must be at least 1000; received ${String(everyMs)}`);
    const timer = setInterval(() => {
      try {
        this.checkpointIfAdvanced();
      } catch (error) {
        if (failed !== undefined) failed(error);
        else this.log?.error({ err: error }, 'audit checkpoint failed');
      }
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * The export as JSONL lines (each ending in `\n`), produced lazily: pipe it to a response
   * with `Readable.from(audit.exportLines(options))`. Signs a head checkpoint when it starts
   * and a seal when it ends. Format and verification: docs/audit-format.md.
   */
  exportLines(options: AuditExportOptions = {}): Generator<string, void, undefined> {
    this.assertOutsideTransaction('exportLines');
    const plan = {
      since: options.since === undefined ? null : iso(toMs(options.since, 'since')),
      until: options.until === undefined ? null : iso(toMs(options.until, 'until')),
      sinceMs: options.since === undefined ? undefined : toMs(options.since, 'since'),
      untilMs: options.until === undefined ? undefined : toMs(options.until, 'until'),
      targets: options.targets === undefined ? null : normalizeTargets(options.targets),
      ...(options.within === undefined ? {} : { within: options.within }),
    };
    const context = {
      store: this.store,
      checkpointHead: () => this.signHead('export'),
      sign: (checkpoint: AuditCheckpoint) => signAuditCheckpoint(checkpoint, this.signer),
      signerKey: { id: this.signer.keyId, publicKey: this.signer.publicKey },
      now: () => iso(this.now()),
    };
    return auditExportLines(context, plan, (stats: AuditExportStats) =>
      this.log?.info({ ...stats, filtered: plan.targets !== null }, 'audit export sealed'),
    );
  }

  /** The whole export as one string; see {@link exportLines} for large ones. */
  export(options: AuditExportOptions = {}): string {
    let text = '';
    for (const line of this.exportLines(options)) text += line;
    return text;
  }

  /**
   * Removes the entries older than `olderThan` (a prefix of the log), behind a new signed
   * checkpoint over the last removed entry: it vouches for the first remaining entry's
   * prevHash, so what remains still verifies. Records an `audit.prune` entry.
   */
  prune(options: AuditPruneOptions): AuditPruneResult {
    this.assertOutsideTransaction('prune');
    const cutoff = toMs(options.olderThan, 'olderThan');
    // Read and written in one transaction: another replica pruning or appending meanwhile waits for it.
    const result = this.db.transaction((): AuditPruneResult => {
      const head = this.readHead();
      const previous = this.store.anchor()?.seq ?? 0;
      const through = (this.store.firstSeqAtOrAfter(cutoff) ?? head.seq + 1) - 1;
      if (through <= previous) return { removed: 0, anchor: null };
      const last = this.store.entryAt(through);
      if (last === undefined)
        throw new FlotillaError(
          'AUDIT_CHAIN_BROKEN',
          `audit entry ${through} is missing from the store; run verify() before pruning`,
          { seq: through },
        );
      const now = this.now();
      const anchor = signAuditCheckpoint(
        { apiVersion: API_VERSION, kind: 'AuditCheckpoint', seq: through, hash: last.hash, time: iso(now) },
        this.signer,
      );
      const removed = through - previous;
      this.storeCheckpoint(anchor, 'prune', now);
      this.store.pruneThrough({
        seq: through,
        hash: last.hash,
        time_ms: last.time_ms,
        removed,
        pruned_ms: now,
        signed: JSON.stringify(anchor),
      });
      this.append({
        actor: options.actor ?? { kind: 'system', id: 'audit-retention' },
        action: 'audit.prune',
        details: { olderThan: iso(cutoff), throughSeq: through, removed, anchorHash: last.hash },
      });
      return { removed, anchor };
    })();
    this.cachedHead = undefined;
    if (result.anchor !== null)
      this.log?.info({ through: result.anchor.checkpoint.seq, removed: result.removed }, 'audit log pruned');
    return result;
  }

  /**
   * Verifies the stored chain and checkpoints with the same verifier an auditor runs. Keys
   * default to this log's signer; pass older hub keys after a key rotation.
   */
  verify(options: { readonly trustedKeys?: readonly TrustedKey[] } = {}): AuditVerifyResult {
    const keys = options.trustedKeys ?? [{ id: this.signer.keyId, publicKey: this.signer.publicKey }];
    const checkpoints = this.store.checkpointDocuments(0, Number.MAX_SAFE_INTEGER);
    return verifyAuditChain(this.storedEntries(), { checkpoints, trustedKeys: keys });
  }

  private *storedEntries(): Generator<unknown, void, undefined> {
    let from = 1;
    for (;;) {
      const rows = this.store.entryDocuments(from, 1_000);
      for (const row of rows) yield row.document;
      if (rows.length < 1_000) return;
      from = rows.at(-1)!.seq + 1;
    }
  }

  private prepare(input: AuditEntryInput): Prepared {
    const parsed = AuditEntryInput.safeParse(input);
    if (!parsed.success) {
      throw new FlotillaError('VALIDATION_FAILED', `audit entry input is invalid: ${z.prettifyError(parsed.error)}`, {
        action: typeof input?.action === 'string' ? input.action : undefined,
      });
    }
    const value = parsed.data;
    return {
      actor: { kind: value.actor.kind, id: value.actor.id },
      action: value.action,
      // Sorted and distinct: one index row per target, and one canonical order to hash.
      subjects: value.subjects === undefined ? [] : [...new Set(value.subjects)].sort(),
      outcome: value.outcome ?? 'success',
      reason: value.reason ?? null,
      details: normalizeAuditDetails(input.details),
    };
  }

  private build(
    prepared: readonly Prepared[],
    start: Head,
  ): { entries: AuditEntry[]; rows: { row: AuditEntryRow; subjects: readonly string[] }[]; head: Head } {
    const now = this.now();
    let timeMs = now;
    if (now < start.timeMs) {
      // Audit time never runs backwards: a clock stepped back stamps entries with the last time.
      if (start.timeMs - now > CLOCK_SKEW_WARNING_MS)
        this.log?.warn(
          { behindMs: start.timeMs - now },
          'clock is behind the last audit entry; using the last entry time',
        );
      timeMs = start.timeMs;
    }
    const time = iso(timeMs);
    const entries: AuditEntry[] = [];
    const rows: { row: AuditEntryRow; subjects: readonly string[] }[] = [];
    let seq = start.seq;
    let prevHash = start.hash;
    for (const item of prepared) {
      seq++;
      const body: AuditEntryBody = {
        seq,
        time,
        actor: item.actor,
        action: item.action,
        subjects: item.subjects,
        outcome: item.outcome,
        reason: item.reason,
        details: item.details,
        salt: nextAuditSalt(),
      };
      const canonical = canonicalAuditBody(body);
      if (canonical.length > AUDIT_MAX_BODY_LENGTH) {
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `audit entry ${item.action} is ${canonical.length} characters in canonical form, above the ${AUDIT_MAX_BODY_LENGTH} limit; keep large documents out of details and refer to them by digest`,
        );
      }
      const hash = hashAuditLink(seq, prevHash, sha256(canonical));
      const entry: AuditEntry = { ...body, prevHash, hash };
      entries.push(entry);
      rows.push({
        row: {
          seq,
          time_ms: timeMs,
          actor_kind: item.actor.kind,
          actor_id: item.actor.id,
          action: item.action,
          outcome: item.outcome,
          hash,
          prev_hash: prevHash,
          entry: JSON.stringify(entry),
        },
        subjects: item.subjects,
      });
      prevHash = hash;
    }
    return { entries, rows, head: { seq, hash: prevHash, timeMs } };
  }

  private signHead(reason: 'manual' | 'interval' | 'export'): SignedAuditCheckpoint {
    this.assertOutsideTransaction('checkpoint');
    const head = this.readHead();
    const now = this.now();
    const signed = signAuditCheckpoint(
      { apiVersion: API_VERSION, kind: 'AuditCheckpoint', seq: head.seq, hash: head.hash, time: iso(now) },
      this.signer,
    );
    this.storeCheckpoint(signed, reason, now);
    this.log?.info({ seq: head.seq, reason }, 'audit checkpoint signed');
    return signed;
  }

  private storeCheckpoint(signed: SignedAuditCheckpoint, reason: AuditCheckpointRow['reason'], now: number): void {
    this.store.insertCheckpoint({
      seq: signed.checkpoint.seq,
      hash: signed.checkpoint.hash,
      reason,
      key_id: signed.signature.keyId,
      public_key: this.signer.publicKey,
      created_ms: now,
      signed: JSON.stringify(signed),
    });
  }

  private readHead(): Head {
    const row = this.store.head();
    if (row !== undefined) return { seq: row.seq, hash: row.hash, timeMs: row.time_ms };
    const anchor = this.store.anchor();
    if (anchor !== undefined) return { seq: anchor.seq, hash: anchor.hash, timeMs: anchor.time_ms };
    return { seq: 0, hash: AUDIT_GENESIS_HASH, timeMs: Number.NEGATIVE_INFINITY };
  }

  private now(): number {
    const value = this.clock();
    return typeof value === 'number' ? value : value.getTime();
  }

  private assertOutsideTransaction(operation: string): void {
    // A signature over uncommitted entries would outlive a rollback and contradict the log.
    if (this.db.inTransaction)
      throw new TypeError(`AuditLog.${operation} signs committed state; call it outside a database transaction`);
  }
}

/** SQLite's constraint failures, and PostgreSQL's unique and check violations (the chain trigger raises the latter). */
function isConstraintError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === '23505' || code === '23514');
}

function toMs(value: AuditTime, name: string): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `audit ${name} must be a Date, epoch milliseconds or an ISO 8601 time; received ${String(value)}`,
    );
  return ms;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function normalizeTargets(targets: readonly string[]): string[] {
  for (const id of targets) {
    if (!TargetId.safeParse(id).success)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `audit export targets must be target ids (tgt_ and 20 hex digits); received ${JSON.stringify(id)}`,
      );
  }
  return [...new Set(targets)].sort();
}
