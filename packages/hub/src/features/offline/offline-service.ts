import { open } from 'node:fs/promises';
import {
  canonicalize,
  FlotillaError,
  sha256,
  SignedBundle,
  type Actor,
  type SignedEnvelope,
  type SignedReport,
  type SignedTrustRoot,
  type Target,
  type TargetStatus,
} from '@flotilla/protocol';
import {
  OFFLINE_EXPIRY_DEFAULT_SECONDS,
  type OfflineExportPlan,
  type OfflineExportRequest,
  type OfflineTargetList,
  type OfflineTargetState,
} from '@flotilla/protocol/api';
import { planTransfer, ReportsFileHeader, type SignedOfflineReceipt } from '@flotilla/protocol/offline';
import type { Query } from '@flotilla/protocol/query';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { OperatorPrincipal } from '../../principal.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { HubKeys } from '../identity/trust-service.ts';
import { importReportsFile } from './import-reports.ts';
import type { OfflineStore } from './offline-store.ts';

/** Signs a target's current envelope with a given lifetime (the desired-state feature). */
export interface OfflineEnvelopes {
  offlineEnvelope(targetId: string, ttlMs: number): SignedEnvelope;
}

/** Published releases as stored (the bundles feature). */
export interface OfflineReleases {
  json(digest: string, principal: OperatorPrincipal): string;
}

/** The trust roots (the identity feature). */
export interface OfflineTrust {
  readonly hubId: string;
  readonly signed: SignedTrustRoot;
  version(version: number): SignedTrustRoot | undefined;
}

/** Fleet queries (the targets feature). */
export interface OfflineSelector {
  parse(text: string | undefined): Query | undefined;
  ids(query: Query | undefined): string[];
}

/** Target records (the targets and identity features): names, keys and the keys rotated away from, last online contact. */
export interface OfflineTargets {
  target(id: string): Target | undefined;
  get(id: string): { readonly status: TargetStatus; readonly publicKey: string; readonly keyId: string } | undefined;
  retiredKeys(id: string): ReadonlyArray<{
    readonly keyId: string;
    readonly publicKey: string;
    readonly untilSeq: number;
    readonly retiredAt: number;
  }>;
}

/**
 * The hub's one record of reports (the reports feature): online reports and reports carried
 * in files go through the same `accept`, so each (target, seq) is held once whichever way it came.
 */
export interface ReportLedger {
  stored(targetId: string, seq: number): string | undefined;
  heldSeqs(targetId: string, from: number, to: number): number[];
  highest(targetId: string): { readonly seq: number; readonly generation: number | null };
  /** The highest seq of the target whose report retention pruned; 0 when none was. */
  prunedThrough(targetId: string): number;
  accept(targetId: string, signed: SignedReport, via: 'online' | 'file'): { readonly duplicate: boolean };
}

export interface OfflineServiceDeps {
  readonly tx: Transactions;
  readonly store: OfflineStore;
  readonly envelopes: OfflineEnvelopes;
  readonly releases: OfflineReleases;
  readonly trust: OfflineTrust;
  readonly selector: OfflineSelector;
  readonly targets: OfflineTargets;
  readonly reports: ReportLedger;
  readonly keys: HubKeys;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** The outcome of importing a reports file, for the operator. */
export interface ReportsImport {
  readonly targetId: string;
  readonly receipt: SignedOfflineReceipt;
}

/** A reports file's header line is at most this long; only the header is read to find the target. */
const HEADER_MAX_BYTES = 64 * 1024;

/**
 * The air-gap exchange on the hub (docs/air-gap.md): signs what a transfer file for some
 * targets carries, imports reports files exactly once into the same record as online reports
 * and answers signed receipts, and keeps each target's offline expiry and last files. Every
 * export, import, receipt and refusal is audited.
 */
export class OfflineService {
  private readonly deps: OfflineServiceDeps;

  constructor(deps: OfflineServiceDeps) {
    this.deps = deps;
  }

  /**
   * The signed manifest and documents of a transfer file for the targets `request` names:
   * each target's current envelope signed afresh with its offline expiry, every release they
   * name, the trust-root versions after `trustRootSince`, and the images the caller described
   * (their blobs never pass through the hub: the caller streams them into the file).
   */
  exportPlan(request: OfflineExportRequest, principal: OperatorPrincipal): OfflineExportPlan {
    const { tx, store, trust, audit, clock } = this.deps;
    const actor: Actor = { kind: 'user', id: principal.name };
    const targetIds = request.targets ?? this.deps.selector.ids(this.deps.selector.parse(request.query));
    try {
      if (targetIds.length === 0)
        throw new FlotillaError('NOT_FOUND', `the query ${request.query ?? ''} selects no target; nothing to export`);
      const envelopes = [...new Set(targetIds)].map((id) => {
        const expiry = store.target(id)?.expirySeconds ?? OFFLINE_EXPIRY_DEFAULT_SECONDS;
        return this.deps.envelopes.offlineEnvelope(id, expiry * 1000);
      });
      const digests = [...new Set(envelopes.flatMap((e) => e.envelope.bundles.map((b) => b.digest)))];
      const releases = digests.map((digest) =>
        SignedBundle.parse(JSON.parse(this.deps.releases.json(digest, principal))),
      );
      const since = request.trustRootSince ?? this.acknowledgedTrustRoot(targetIds);
      const current = trust.signed.trustRoot.version;
      const trustRoots: SignedTrustRoot[] = [];
      for (let version = since + 1; version <= current; version++) {
        const root = version === current ? trust.signed : trust.version(version);
        if (root !== undefined) trustRoots.push(root);
      }
      const now = clock();
      const images =
        request.images === undefined
          ? undefined
          : {
              index: request.images.index,
              blobs: request.images.blobs.map((b) => ({
                digest: b.digest,
                size: b.size,
                open: (): AsyncIterable<Uint8Array> => {
                  throw new TypeError('the hub signs image blobs by digest and never reads them');
                },
              })),
            };
      let planned;
      try {
        planned = planTransfer(
          {
            hubId: trust.hubId,
            createdAt: new Date(now).toISOString(),
            trustRootSince: since,
            trustRoots,
            envelopes,
            releases,
            images,
          },
          this.deps.keys.hub,
        );
      } catch (error) {
        if (error instanceof TypeError) throw new FlotillaError('VALIDATION_FAILED', error.message);
        throw error;
      }
      const { signed } = planned;
      tx.run(() => {
        for (const e of envelopes) store.markExported(e.envelope.targetId, now, e.envelope.generation);
        audit.append({
          actor,
          action: 'offline.export',
          subjects: signed.manifest.targets.map((t) => t.targetId),
          outcome: 'success',
          details: {
            manifest: sha256(canonicalize(signed)),
            targets: signed.manifest.targets,
            releases: digests,
            trustRootSince: since,
            trustRootVersion: current,
            images: request.images?.index.manifests.length ?? 0,
            entries: signed.manifest.entries.length,
            expiresAt: Object.fromEntries(envelopes.map((e) => [e.envelope.targetId, e.envelope.expiresAt])),
          },
        });
      });
      return { signed, trustRoots, envelopes, releases };
    } catch (error) {
      this.refused(actor, 'offline.export', targetIds, error, {});
      throw error;
    }
  }

  /**
   * Imports an agent's reports file from `path`: finds the target from its header, verifies the
   * whole file (agent key of that target, chain, seal) before storing anything, ingests in seq
   * order exactly the reports the hub does not hold, through the same record online reports
   * go to, and answers the hub-signed receipt. The same file again accepts nothing.
   */
  async importReports(path: string, principal: OperatorPrincipal): Promise<ReportsImport> {
    const { tx, store, audit, clock, reports } = this.deps;
    const actor: Actor = { kind: 'user', id: principal.name };
    let targetId: string | undefined;
    try {
      targetId = await headerTarget(path);
      const id = targetId;
      const key = this.deps.targets.get(id);
      if (key === undefined)
        throw new FlotillaError('NOT_FOUND', `the reports file is from target ${id}, which this hub does not know`);
      // As online: a revoked target's key may be in other hands, and a disabled one's reports wait.
      if (key.status !== 'active')
        throw new FlotillaError(
          key.status === 'revoked' ? 'TARGET_REVOKED' : 'TARGET_DISABLED',
          `target ${id} is ${key.status}; its reports are not taken${key.status === 'disabled' ? ' until it is enabled again' : ''}`,
        );
      const accepted: Array<{ signed: SignedReport; link: string }> = [];
      const imported = await importReportsFile(path, {
        targetId: id,
        agentKeys: [
          { id: key.keyId, publicKey: key.publicKey },
          ...this.deps.targets.retiredKeys(id).map((k) => ({
            id: k.keyId,
            publicKey: k.publicKey,
            retired: { seq: k.untilSeq, at: new Date(k.retiredAt).toISOString() },
          })),
        ],
        history: {
          reportDigest: (seq) => {
            const json = reports.stored(id, seq);
            return json === undefined ? undefined : sha256(json);
          },
          missing: (from, to) => missingRanges(from, to, reports.heldSeqs(id, from, to)),
          prunedThrough: reports.prunedThrough(id),
        },
        accept: (signed, link) => {
          accepted.push({ signed, link });
        },
        hubKey: this.deps.keys.hub,
        now: () => new Date(clock()),
      });
      const { summary, plan, receipt } = imported;
      const now = clock();
      tx.run(() => {
        for (const { signed } of accepted) reports.accept(id, signed, 'file');
        const forks = new Set(plan.forks);
        for (const entry of summary.entries)
          if (!forks.has(entry.seq)) store.addLink(id, entry.seq, entry.link, summary.fileDigest);
        store.addFile(id, summary.fileDigest, summary.head.seq, now, canonicalize(receipt));
        store.markImported(id, now, summary.trustRootVersion);
        const acknowledged = reports.highest(id);
        audit.append({
          actor,
          action: 'offline.import-reports',
          subjects: [id],
          outcome: 'success',
          details: {
            file: summary.fileDigest,
            head: summary.head,
            accepted: receipt.receipt.accepted,
            duplicates: receipt.receipt.duplicates,
            forks: receipt.receipt.forks,
            gaps: receipt.receipt.gaps,
            acknowledgedGeneration: acknowledged.generation,
          },
        });
        audit.append({
          actor,
          action: 'offline.receipt',
          subjects: [id],
          outcome: 'success',
          details: { file: summary.fileDigest, head: summary.head, receipt: sha256(canonicalize(receipt)) },
        });
      });
      return { targetId: id, receipt };
    } catch (error) {
      this.refused(actor, 'offline.import-reports', targetId === undefined ? [] : [targetId], error, {});
      throw error;
    }
  }

  /**
   * The trust-root version every one of `targetIds` holds, as their last reports files said;
   * 0 (carry every version) when any of them has not said.
   */
  private acknowledgedTrustRoot(targetIds: readonly string[]): number {
    const versions = targetIds.map((id) => this.deps.store.target(id)?.trustRootVersion ?? 0);
    return versions.length === 0 ? 0 : Math.min(...versions);
  }

  /** Sets how long the envelopes in a target's transfer files stay valid (bounded by the API schema). */
  setExpiry(targetId: string, expirySeconds: number, principal: OperatorPrincipal): void {
    const { tx, store, audit, targets } = this.deps;
    if (targets.target(targetId) === undefined)
      throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    tx.run(() => {
      store.setExpiry(targetId, expirySeconds);
      audit.append({
        actor: { kind: 'user', id: principal.name },
        action: 'offline.set-expiry',
        subjects: [targetId],
        outcome: 'success',
        details: { expirySeconds },
      });
    });
  }

  /** Every target that exchanged files or has an offline expiry, with how it syncs. */
  list(): OfflineTargetList {
    const items: OfflineTargetState[] = [];
    for (const record of this.deps.store.all()) {
      const target = this.deps.targets.target(record.targetId);
      if (target === undefined) continue;
      const lastFile = Math.max(record.lastExportAt ?? 0, record.lastImportAt ?? 0);
      const lastContact = target.lastSeenAt === null ? 0 : Date.parse(target.lastSeenAt);
      const highest = this.deps.reports.highest(record.targetId);
      items.push({
        targetId: record.targetId,
        name: target.name,
        sync: record.lastImportAt !== null && record.lastImportAt >= lastContact ? 'offline-synced' : 'online',
        expirySeconds: record.expirySeconds ?? OFFLINE_EXPIRY_DEFAULT_SECONDS,
        lastFileAt: lastFile === 0 ? null : new Date(lastFile).toISOString(),
        lastContactAt: target.lastSeenAt,
        exportedGeneration: record.exportGeneration,
        acknowledgedGeneration: highest.generation,
        reportSeq: highest.seq,
        trustRootVersion: record.trustRootVersion,
      });
    }
    return { items };
  }

  private refused(
    actor: Actor,
    action: string,
    subjects: readonly string[],
    error: unknown,
    details: Record<string, unknown>,
  ): void {
    if (!(error instanceof FlotillaError)) return;
    this.deps.audit.append({
      actor,
      action,
      subjects: subjects.filter((s) => this.deps.targets.target(s) !== undefined),
      outcome: 'refused',
      reason: error.code,
      details: { ...details, ...(error.details ?? {}), message: error.message },
    });
  }
}

/** The seqs from `from` to `to` not in `held` (increasing), as ranges. */
function missingRanges(from: number, to: number, held: readonly number[]): Array<{ from: number; to: number }> {
  const ranges: Array<{ from: number; to: number }> = [];
  let next = from;
  for (const seq of [...held, to + 1]) {
    if (seq > next) ranges.push({ from: next, to: seq - 1 });
    next = seq + 1;
  }
  return ranges;
}

/** The target a reports file's header names; anything that is not a header is REPORTS_FILE_INVALID. */
async function headerTarget(path: string): Promise<string> {
  const handle = await open(path, 'r');
  let text: string;
  try {
    const buffer = Buffer.alloc(HEADER_MAX_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEADER_MAX_BYTES, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
  const end = text.indexOf('\n');
  let parsed;
  try {
    parsed = ReportsFileHeader.safeParse(JSON.parse(end < 0 ? text : text.slice(0, end)));
  } catch {
    parsed = undefined;
  }
  if (parsed?.success !== true)
    throw new FlotillaError('REPORTS_FILE_INVALID', 'the file does not start with a reports-file header line', {
      line: 1,
    });
  return parsed.data.targetId;
}
