import {
  canonicalize,
  DRIFT_POLICY_MAX_BYTES,
  FlotillaError,
  formatBytes,
  parseDriftPolicy,
  sha256,
  type Actor,
  type DriftClass,
  type DriftItemReport,
  type DriftPolicy,
  type DriftReportSection,
  type DriftRevert,
  type Report,
  type TargetDrift,
} from '@flotilla/protocol';
import type {
  DriftList,
  DriftListItem,
  DriftPolicyChange,
  DriftPolicyState,
  RevertResult,
  TargetDriftView,
} from '@flotilla/protocol/api';
import { AUDIT_MAX_SUBJECTS } from '@flotilla/protocol/audit';
import { driftItemId } from '@flotilla/protocol/drift';
import type { Query } from '@flotilla/protocol/query';
import { appendInParts } from '../../append-in-parts.ts';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { DriftPolicies } from './drift-policies.ts';
import type { DriftStore, NamedCurrentDrift } from './drift-store.ts';

/** Filters of {@link DriftService.list}. */
export interface DriftListFilter {
  readonly query?: string | undefined;
  readonly classes?: readonly DriftClass[] | undefined;
  /** Only items held as intentional (true) or only the others (false). */
  readonly intentional?: boolean | undefined;
  readonly limit: number;
}

/** The records drift reads and writes of targets (the targets feature's store). */
export interface DriftTargets {
  name(id: string): string | undefined;
  setDriftSummary(id: string, drift: TargetDrift | null): void;
}

/** Selects targets by fleet query (the targets feature). */
export interface FleetSelection {
  parse(text: string | undefined): Query | undefined;
  ids(query: Query | undefined): string[];
}

/** Signs targets' envelopes again when their drift part changed (the desired-state feature). */
export interface EnvelopeReissue {
  reissue(
    targetId: string,
    options: { readonly revert?: readonly DriftRevert[]; readonly changedBy?: Actor },
  ): { readonly changed: boolean; readonly generation: number };
  reissueMany(targetIds: readonly string[]): string[];
  targetsWithEnvelope(): string[];
  announce(targetIds: Iterable<string>): void;
}

export interface DriftServiceDeps {
  readonly tx: Transactions;
  readonly store: DriftStore;
  readonly policies: DriftPolicies;
  readonly targets: DriftTargets;
  readonly fleet: FleetSelection;
  readonly envelopes: EnvelopeReissue;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

const SEVERITY: Readonly<Record<DriftClass, number>> = { dangerous: 0, suspicious: 1, transient: 2, acceptable: 3 };
const ZERO_COUNTS = { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 };
/** Most items of each kind an audit entry lists when a target's drift changes. */
const AUDIT_ITEMS = 20;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** What identifies the drift set of a report for change detection: items with their class, action and hold. */
function driftSetSignature(section: DriftReportSection): string {
  const lines = section.items
    .map((item) => `${driftItemId(item.resourceKey, item.path)}:${item.class}:${item.action}:${item.holdId ?? ''}`)
    .sort();
  return sha256(`${lines.join('\n')}\n${section.omitted}`);
}

function listItems(drift: NamedCurrentDrift): DriftListItem[] {
  const reportedAt = iso(drift.observedAt);
  return drift.section.items.map((item) => ({
    id: driftItemId(item.resourceKey, item.path),
    targetId: drift.targetId,
    target: drift.name,
    reportedAt,
    ...item,
  }));
}

/** The audit details of a change in a target's drift set: what appeared, cleared, or was decided otherwise. */
function driftChange(before: DriftReportSection | undefined, after: DriftReportSection): Record<string, unknown> {
  const index = (section: DriftReportSection | undefined): Map<string, DriftItemReport> =>
    new Map((section?.items ?? []).map((item) => [driftItemId(item.resourceKey, item.path), item]));
  const old = index(before);
  const now = index(after);
  const brief = (id: string, item: DriftItemReport) => ({
    id,
    resourceKey: item.resourceKey,
    path: item.path,
    change: item.change,
    class: item.class,
    action: item.action,
    ...(item.holdId === undefined ? {} : { holdId: item.holdId }),
  });
  const appeared = [...now].filter(([id]) => !old.has(id)).map(([id, item]) => brief(id, item));
  const cleared = [...old]
    .filter(([id]) => !now.has(id))
    .map(([id, item]) => ({ id, resourceKey: item.resourceKey, path: item.path }));
  const changed = [...now]
    .filter(([id, item]) => {
      const was = old.get(id);
      return (
        was !== undefined && (was.class !== item.class || was.action !== item.action || was.holdId !== item.holdId)
      );
    })
    .map(([id, item]) => ({ ...brief(id, item), from: { class: old.get(id)!.class, action: old.get(id)!.action } }));
  return {
    counts: after.counts,
    omitted: after.omitted,
    appeared: appeared.slice(0, AUDIT_ITEMS),
    cleared: cleared.slice(0, AUDIT_ITEMS),
    changed: changed.slice(0, AUDIT_ITEMS),
    ...(appeared.length > AUDIT_ITEMS || cleared.length > AUDIT_ITEMS || changed.length > AUDIT_ITEMS
      ? { truncated: { appeared: appeared.length, cleared: cleared.length, changed: changed.length } }
      : {}),
  };
}

/**
 * Drift at the hub (docs/drift.md): the drift policy every envelope names, each target's
 * current drift from its reports with a history in the audit trail, the fleet-wide listing
 * behind `flotilla drift ls`, and operators' revert requests.
 */
export class DriftService {
  private readonly deps: DriftServiceDeps;

  constructor(deps: DriftServiceDeps) {
    this.deps = deps;
  }

  /** The drift policy in force: the one an operator set, or the default. */
  policy(): DriftPolicyState {
    return this.deps.policies.current();
  }

  /**
   * Sets the drift policy from what an operator wrote (parsed YAML or JSON, settings may be left
   * out): checked strictly (`DRIFT_POLICY_INVALID` names each problem), stored, audited, and
   * shipped: every target with an envelope gets a new generation carrying it.
   */
  setPolicy(input: unknown, actor: Actor): DriftPolicyChange {
    const policy = parseDriftPolicy(input);
    const served = Buffer.byteLength(canonicalize(policy));
    if (served > DRIFT_POLICY_MAX_BYTES)
      throw new FlotillaError(
        'BODY_TOO_LARGE',
        `the drift policy is ${served} bytes as canonical JSON, more than the ${formatBytes(DRIFT_POLICY_MAX_BYTES)} agents read of one; shorten its rules`,
        { limit: DRIFT_POLICY_MAX_BYTES },
      );
    return this.replacePolicy(policy, actor, 'drift-policy.set');
  }

  /**
   * The canonical JSON of a policy envelopes name by this digest, as agents fetch it.
   *
   * @throws FlotillaError `DRIFT_POLICY_UNKNOWN` for a digest no policy in force ever had.
   */
  policyJson(digest: string): string {
    const json = this.deps.policies.json(digest);
    if (json === undefined)
      throw new FlotillaError(
        'DRIFT_POLICY_UNKNOWN',
        `no drift policy with digest ${digest} was ever in force on this hub; an envelope naming it was not signed here`,
      );
    return json;
  }

  /** Goes back to the default policy; audited, and shipped like {@link setPolicy}. */
  resetPolicy(actor: Actor): DriftPolicyChange {
    return this.replacePolicy(undefined, actor, 'drift-policy.reset');
  }

  private replacePolicy(policy: DriftPolicy | undefined, actor: Actor, action: string): DriftPolicyChange {
    const { tx, policies, envelopes, audit, clock } = this.deps;
    const before = policies.current();
    let changed: string[];
    try {
      changed = tx.run(() => {
        policies.replace(policy, iso(clock()), actor);
        const after = policies.current();
        const reissued = envelopes.reissueMany(envelopes.targetsWithEnvelope());
        appendInParts(
          audit,
          {
            actor,
            action,
            outcome: 'success',
            details: {
              from: before.digest,
              to: after.digest,
              source: after.source,
              rules: after.policy.rules.map((rule) => rule.id),
              settings: after.policy.settings,
              targets: reissued.length,
            },
          },
          reissued,
          AUDIT_MAX_SUBJECTS,
        );
        return reissued;
      });
    } finally {
      policies.forget();
    }
    envelopes.announce(changed);
    return { state: policies.current(), reissued: changed.length };
  }

  /**
   * Keeps the drift section of a report as the target's current drift, when it is newer than the
   * one kept; writes the target's drift summary (and so its `drift` query rows); and, when the
   * set of items, their classes, actions or holds changed, a `drift.observed` audit entry.
   * Runs inside the report's transaction.
   */
  recordReport(targetId: string, report: Report): void {
    const { store, targets, audit } = this.deps;
    const section = report.drift;
    if (section === undefined) return;
    const head = store.head(targetId);
    // A report forwarded late from a journal never replaces a newer observation.
    if (head !== undefined && head.seq >= report.seq) return;
    const signature = driftSetSignature(section);
    // The section kept is read (and parsed) only to describe a change of the set in the audit trail.
    const current = head !== undefined && head.signature !== signature ? store.current(targetId) : undefined;
    store.setCurrent({ targetId, seq: report.seq, observedAt: Date.parse(report.observedAt), section, signature });
    const summary: TargetDrift = {
      counts: section.counts,
      intentional: section.items.filter((item) => item.intentional === true).length,
      seq: report.seq,
      reportedAt: report.observedAt,
    };
    targets.setDriftSummary(targetId, summary);
    const empty = section.items.length === 0 && section.omitted === 0;
    if (head === undefined ? empty : head.signature === signature) return;
    audit.append({
      actor: { kind: 'agent', id: targetId },
      action: 'drift.observed',
      subjects: [targetId],
      outcome: 'success',
      details: { seq: report.seq, generation: report.generation, ...driftChange(current?.section, section) },
    });
  }

  /** A target's current drift with item ids. */
  targetDrift(targetId: string): TargetDriftView {
    const name = this.deps.targets.name(targetId);
    if (name === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    const drift = this.deps.store.current(targetId);
    if (drift === undefined)
      return { targetId, target: name, seq: null, reportedAt: null, counts: { ...ZERO_COUNTS }, omitted: 0, items: [] };
    return {
      targetId,
      target: name,
      seq: drift.seq,
      reportedAt: iso(drift.observedAt),
      counts: drift.section.counts,
      omitted: drift.section.omitted,
      items: listItems({ ...drift, name }),
    };
  }

  /**
   * Current drift across the targets a fleet query selects (every target without one): the most
   * severe first, then by target name, resource and path.
   */
  list(filter: DriftListFilter): DriftList {
    const { fleet, store } = this.deps;
    const ids =
      filter.query === undefined || filter.query.trim() === '' ? undefined : fleet.ids(fleet.parse(filter.query));
    const classes = filter.classes === undefined || filter.classes.length === 0 ? undefined : new Set(filter.classes);
    const items: DriftListItem[] = [];
    const targets = new Set<string>();
    for (const drift of store.driftOf(ids)) {
      for (const item of listItems(drift)) {
        if (classes !== undefined && !classes.has(item.class)) continue;
        if (filter.intentional !== undefined && (item.intentional === true) !== filter.intentional) continue;
        items.push(item);
        targets.add(item.targetId);
      }
    }
    items.sort(
      (a, b) =>
        SEVERITY[a.class] - SEVERITY[b.class] ||
        a.target.localeCompare(b.target) ||
        a.resourceKey.localeCompare(b.resourceKey) ||
        a.path.localeCompare(b.path),
    );
    return { items: items.slice(0, filter.limit), total: items.length, targets: targets.size };
  }

  /**
   * Asks the target's agent to revert these current drift items (by id) even though its policy,
   * or a hold, kept them: a new generation whose envelope lists them, carried out once by the
   * agent. Audited as `drift.revert`.
   */
  requestRevert(targetId: string, itemIds: readonly string[], actor: Actor): RevertResult {
    if (itemIds.length === 0)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'name at least one drift item to revert (the ids that flotilla drift ls shows)',
      );
    const view = this.targetDrift(targetId);
    const byId = new Map(view.items.map((item) => [item.id, item]));
    const unknown = itemIds.filter((id) => !byId.has(id));
    if (unknown.length > 0) {
      throw new FlotillaError(
        'NOT_FOUND',
        `target ${targetId} has no current drift item ${unknown.join(', ')}; list them with flotilla drift ls -q 'id=${targetId}'`,
        { unknown },
      );
    }
    const items = [...new Set(itemIds)].map((id) => byId.get(id)!);
    const extra = items.find((item) => item.change === 'extra-resource');
    if (extra !== undefined) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `${extra.id} is a resource no release holds any more (${extra.resourceKey}); there is no desired state to revert it to: delete it, or adopt it into a release`,
      );
    }
    const { tx, envelopes, audit } = this.deps;
    const revert: DriftRevert[] = items.map((item) => ({ resourceKey: item.resourceKey, path: item.path }));
    const generation = tx.run(() => {
      const result = envelopes.reissue(targetId, { revert, changedBy: actor });
      if (!result.changed)
        throw new FlotillaError(
          'CONFLICT',
          `target ${targetId} has no desired state to revert to; assign a release first`,
        );
      audit.append({
        actor,
        action: 'drift.revert',
        subjects: [targetId],
        outcome: 'success',
        details: {
          generation: result.generation,
          items: items.map((item) => ({
            id: item.id,
            resourceKey: item.resourceKey,
            path: item.path,
            class: item.class,
            ...(item.holdId === undefined ? {} : { holdId: item.holdId }),
          })),
        },
      });
      return result.generation;
    });
    envelopes.announce([targetId]);
    return { generation, items };
  }
}
