import { canonicalize, DriftClass, DriftPolicy, DriftReportSection, FlotillaError, parseDriftPolicy, sha256, type Actor, type DriftItemReport, type DriftRevert, type Report, type TargetDrift } from '@flotilla/protocol';
import { AUDIT_MAX_SUBJECTS } from '@flotilla/protocol/audit';
import { defaultDriftPolicy, driftItemId } from '@flotilla/protocol/drift';
import { z } from 'zod';
import { targetFromRow, type HubStore } from '../../store/hub-store.ts';
import type { AuditSink } from '../audit-sink.ts';
import type { Clock } from '../clock.ts';
import type { DesiredStateService, EnvelopeDrift, EnvelopeDriftSource } from '../desired-state.ts';
import type { FleetQuery } from '../fleet-query.ts';
import { DRIFT_POLICY_META_KEY, type DriftStore, type NamedTargetDriftRow } from './drift-store.ts';
import type { HoldIndex } from './hold-index.ts';

/** The drift policy in force, and where it came from. */
export interface DriftPolicyState {
  readonly policy: DriftPolicy;
  /** `default`: no operator set one, so envelopes carry `defaultDriftPolicy`. */
  readonly source: 'default' | 'custom';
  /** The policy's content address, so two hubs or two reads can be compared. */
  readonly digest: string;
  readonly setAt?: string;
  readonly setBy?: Actor;
}

/** One current drift item of one target, as `GET /v1/drift` lists it. */
export interface DriftListItem extends DriftItemReport {
  /** The item's id on this target: a short hash of its resource key and path. */
  readonly id: string;
  readonly targetId: string;
  readonly target: string;
  /** When the agent observed it (its report's `observedAt`). */
  readonly reportedAt: string;
}

/** A target's current drift, as `GET /v1/targets/{id}/drift` answers. */
export interface TargetDriftView {
  readonly targetId: string;
  readonly target: string;
  /** The report the drift comes from; null before the first report with a drift section. */
  readonly seq: number | null;
  readonly reportedAt: string | null;
  readonly counts: DriftReportSection['counts'];
  /** Items the agent counted but left out of its report to keep it bounded. */
  readonly omitted: number;
  readonly items: DriftListItem[];
}

/** Filters of {@link DriftService.list}. */
export interface DriftListFilter {
  readonly query?: string | undefined;
  readonly classes?: readonly DriftClass[] | undefined;
  /** Only items held as intentional (true) or only the others (false). */
  readonly intentional?: boolean | undefined;
  readonly limit: number;
}

const StoredPolicy = z.object({ policy: DriftPolicy, setAt: z.string(), setBy: z.object({ kind: z.enum(['user', 'agent', 'system']), id: z.string() }) });

const SEVERITY: Readonly<Record<DriftClass, number>> = { dangerous: 0, suspicious: 1, transient: 2, acceptable: 3 };
const ZERO_COUNTS = { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 };
/** Most items of each kind an audit entry lists when a target's drift changes. */
const AUDIT_ITEMS = 20;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** What identifies the drift set of a report for change detection: items with their class, action and hold. */
function driftSetSignature(section: DriftReportSection): string {
  const lines = section.items.map((item) => `${driftItemId(item.resourceKey, item.path)}:${item.class}:${item.action}:${item.holdId ?? ''}`).sort();
  return sha256(`${lines.join('\n')}\n${section.omitted}`);
}

function listItems(row: NamedTargetDriftRow): DriftListItem[] {
  const section = JSON.parse(row.section) as DriftReportSection;
  const reportedAt = iso(row.observed_at);
  return section.items.map((item) => ({ id: driftItemId(item.resourceKey, item.path), targetId: row.target_id, target: row.name, reportedAt, ...item }));
}

/** The audit details of a change in a target's drift set: what appeared, cleared, or was decided otherwise. */
function driftChange(before: DriftReportSection | undefined, after: DriftReportSection): Record<string, unknown> {
  const index = (section: DriftReportSection | undefined): Map<string, DriftItemReport> => new Map((section?.items ?? []).map((item) => [driftItemId(item.resourceKey, item.path), item]));
  const old = index(before);
  const now = index(after);
  const brief = (id: string, item: DriftItemReport) => ({ id, resourceKey: item.resourceKey, path: item.path, change: item.change, class: item.class, action: item.action, ...(item.holdId === undefined ? {} : { holdId: item.holdId }) });
  const appeared = [...now].filter(([id]) => !old.has(id)).map(([id, item]) => brief(id, item));
  const cleared = [...old].filter(([id]) => !now.has(id)).map(([id, item]) => ({ id, resourceKey: item.resourceKey, path: item.path }));
  const changed = [...now]
    .filter(([id, item]) => {
      const was = old.get(id);
      return was !== undefined && (was.class !== item.class || was.action !== item.action || was.holdId !== item.holdId);
    })
    .map(([id, item]) => ({ ...brief(id, item), from: { class: old.get(id)!.class, action: old.get(id)!.action } }));
  return {
    counts: after.counts,
    omitted: after.omitted,
    appeared: appeared.slice(0, AUDIT_ITEMS),
    cleared: cleared.slice(0, AUDIT_ITEMS),
    changed: changed.slice(0, AUDIT_ITEMS),
    ...(appeared.length > AUDIT_ITEMS || cleared.length > AUDIT_ITEMS || changed.length > AUDIT_ITEMS ? { truncated: { appeared: appeared.length, cleared: cleared.length, changed: changed.length } } : {}),
  };
}

/**
 * Drift at the hub (docs/drift.md): the drift policy every envelope carries and the holds in
 * force for each target (this is the envelopes' drift source), each target's current drift
 * from its reports with a history in the audit trail, the fleet-wide listing behind `flotilla
 * drift ls`, and operators' revert requests.
 */
export class DriftService implements EnvelopeDriftSource {
  private readonly store: HubStore;
  private readonly drift: DriftStore;
  private readonly desired: DesiredStateService;
  private readonly audit: AuditSink;
  private readonly clock: Clock;
  private readonly fleet: FleetQuery;
  private readonly holds: HoldIndex;
  private cachedPolicy: DriftPolicyState | undefined;

  constructor(deps: { store: HubStore; drift: DriftStore; desired: DesiredStateService; audit: AuditSink; clock: Clock; fleet: FleetQuery; holds: HoldIndex }) {
    this.store = deps.store;
    this.drift = deps.drift;
    this.desired = deps.desired;
    this.audit = deps.audit;
    this.clock = deps.clock;
    this.fleet = deps.fleet;
    this.holds = deps.holds;
  }

  // ----- policy -----

  /** The drift policy in force: the one an operator set, or the default. */
  policy(): DriftPolicyState {
    if (this.cachedPolicy === undefined) {
      const json = this.store.getMeta(DRIFT_POLICY_META_KEY);
      const stored = json === undefined ? undefined : StoredPolicy.safeParse(JSON.parse(json));
      this.cachedPolicy = stored?.success === true
        ? { policy: stored.data.policy, source: 'custom', digest: sha256(canonicalize(stored.data.policy)), setAt: stored.data.setAt, setBy: stored.data.setBy }
        : { policy: defaultDriftPolicy, source: 'default', digest: sha256(canonicalize(defaultDriftPolicy)) };
    }
    return this.cachedPolicy;
  }

  /**
   * Sets the drift policy from what an operator wrote (parsed YAML or JSON, settings may be left
   * out): checked strictly (`DRIFT_POLICY_INVALID` names each problem), stored, audited, and
   * shipped: every target with an envelope gets a new generation carrying it.
   */
  setPolicy(input: unknown, actor: Actor): { state: DriftPolicyState; reissued: number } {
    const policy = parseDriftPolicy(input);
    return this.replacePolicy(policy, actor, 'drift-policy.set');
  }

  /** Goes back to the default policy; audited, and shipped like {@link setPolicy}. */
  resetPolicy(actor: Actor): { state: DriftPolicyState; reissued: number } {
    return this.replacePolicy(undefined, actor, 'drift-policy.reset');
  }

  private replacePolicy(policy: DriftPolicy | undefined, actor: Actor, action: string): { state: DriftPolicyState; reissued: number } {
    const before = this.policy();
    let changed: string[] = [];
    try {
      changed = this.store.transaction(() => {
        if (policy === undefined) this.store.db.prepare('DELETE FROM meta WHERE key = ?').run(DRIFT_POLICY_META_KEY);
        else this.store.setMeta(DRIFT_POLICY_META_KEY, JSON.stringify({ policy, setAt: iso(this.clock()), setBy: actor }));
        this.cachedPolicy = undefined;
        const after = this.policy();
        const reissued = this.reissueMany(this.drift.targetsWithEnvelope());
        this.auditMany(reissued, { actor, action, outcome: 'success', details: { from: before.digest, to: after.digest, source: after.source, rules: after.policy.rules.map((rule) => rule.id), settings: after.policy.settings, targets: reissued.length } });
        return reissued;
      });
    } finally {
      this.cachedPolicy = undefined;
    }
    this.desired.announce(changed);
    return { state: this.policy(), reissued: changed.length };
  }

  // ----- envelopes -----

  /** The drift part of a target's next envelope: the policy in force and the holds that select it now. */
  envelopeDrift(targetId: string): EnvelopeDrift {
    const driftPolicy = this.policy().policy;
    if (!this.holds.any()) return { holds: [], driftPolicy };
    const row = this.store.targetRow(targetId);
    return { holds: row === undefined ? [] : this.holds.holdsFor(targetFromRow(row)), driftPolicy };
  }

  /** Call when an incident opened or closed, before re-signing: the holds are read again. */
  holdsChanged(): void {
    this.holds.invalidate();
  }

  /**
   * Signs a new generation for each target whose envelope's drift part would change; runs inside
   * the caller's transaction. Returns the ids that changed, for the caller to audit (with the
   * actor) and then announce.
   */
  reissueMany(targetIds: readonly string[]): string[] {
    return targetIds.filter((id) => this.desired.reissue(id).changed);
  }

  /** One audit entry per {@link AUDIT_MAX_SUBJECTS} targets, so that every target's history shows the change. */
  auditMany(subjects: readonly string[], entry: { actor: Actor; action: string; outcome: 'success'; reason?: string; details: Record<string, unknown> }): void {
    if (subjects.length <= AUDIT_MAX_SUBJECTS) {
      this.audit.append({ ...entry, subjects });
      return;
    }
    const parts = Math.ceil(subjects.length / AUDIT_MAX_SUBJECTS);
    for (let part = 0; part < parts; part++) {
      this.audit.append({ ...entry, subjects: subjects.slice(part * AUDIT_MAX_SUBJECTS, (part + 1) * AUDIT_MAX_SUBJECTS), details: { ...entry.details, part: part + 1, parts } });
    }
  }

  // ----- reports -----

  /**
   * Keeps the drift section of a report as the target's current drift, when it is newer than the
   * one kept; writes the target's drift summary (and so its `drift` query rows); and, when the
   * set of items, their classes, actions or holds changed, a `drift.observed` audit entry.
   * Runs inside the report's transaction.
   */
  recordReport(targetId: string, report: Report): void {
    const section = report.drift;
    if (section === undefined) return;
    const current = this.drift.currentDrift(targetId);
    // A report forwarded late from a journal never replaces a newer observation.
    if (current !== undefined && current.seq >= report.seq) return;
    const signature = driftSetSignature(section);
    const observedAt = Date.parse(report.observedAt);
    this.drift.setCurrentDrift({ targetId, seq: report.seq, observedAt, section: JSON.stringify(section), signature });
    const summary: TargetDrift = { counts: section.counts, intentional: section.items.filter((item) => item.intentional === true).length, seq: report.seq, reportedAt: report.observedAt };
    this.store.setDriftSummary(targetId, summary);
    const empty = section.items.length === 0 && section.omitted === 0;
    if (current === undefined ? empty : current.signature === signature) return;
    const before = current === undefined ? undefined : (JSON.parse(current.section) as DriftReportSection);
    this.audit.append({ actor: { kind: 'agent', id: targetId }, action: 'drift.observed', subjects: [targetId], outcome: 'success', details: { seq: report.seq, generation: report.generation, ...driftChange(before, section) } });
  }

  // ----- reading -----

  /** A target's current drift with item ids. */
  targetDrift(targetId: string): TargetDriftView {
    const row = this.store.targetRow(targetId);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    const drift = this.drift.currentDrift(targetId);
    if (drift === undefined) return { targetId, target: row.name, seq: null, reportedAt: null, counts: { ...ZERO_COUNTS }, omitted: 0, items: [] };
    const section = JSON.parse(drift.section) as DriftReportSection;
    return { targetId, target: row.name, seq: drift.seq, reportedAt: iso(drift.observed_at), counts: section.counts, omitted: section.omitted, items: listItems({ ...drift, name: row.name }) };
  }

  /**
   * Current drift across the targets a fleet query selects (every target without one): the most
   * severe first, then by target name, resource and path.
   */
  list(filter: DriftListFilter): { items: DriftListItem[]; total: number; targets: number } {
    const ids = filter.query === undefined || filter.query.trim() === '' ? undefined : this.fleet.ids(this.fleet.parse(filter.query));
    const classes = filter.classes === undefined || filter.classes.length === 0 ? undefined : new Set(filter.classes);
    const items: DriftListItem[] = [];
    const targets = new Set<string>();
    for (const row of this.drift.driftOf(ids)) {
      for (const item of listItems(row)) {
        if (classes !== undefined && !classes.has(item.class)) continue;
        if (filter.intentional !== undefined && (item.intentional === true) !== filter.intentional) continue;
        items.push(item);
        targets.add(item.targetId);
      }
    }
    items.sort((a, b) => SEVERITY[a.class] - SEVERITY[b.class] || a.target.localeCompare(b.target) || a.resourceKey.localeCompare(b.resourceKey) || a.path.localeCompare(b.path));
    return { items: items.slice(0, filter.limit), total: items.length, targets: targets.size };
  }

  // ----- revert -----

  /**
   * Asks the target's agent to revert these current drift items (by id) even though its policy,
   * or a hold, kept them: a new generation whose envelope lists them, carried out once by the
   * agent. Audited as `drift.revert`.
   */
  requestRevert(targetId: string, itemIds: readonly string[], actor: Actor): { generation: number; items: DriftListItem[] } {
    if (itemIds.length === 0) throw new FlotillaError('VALIDATION_FAILED', 'name at least one drift item to revert (the ids that flotilla drift ls shows)');
    const view = this.targetDrift(targetId);
    const byId = new Map(view.items.map((item) => [item.id, item]));
    const unknown = itemIds.filter((id) => !byId.has(id));
    if (unknown.length > 0) {
      throw new FlotillaError('NOT_FOUND', `target ${targetId} has no current drift item ${unknown.join(', ')}; list them with flotilla drift ls -q 'id=${targetId}'`, { unknown });
    }
    const items = [...new Set(itemIds)].map((id) => byId.get(id)!);
    const extra = items.find((item) => item.change === 'extra-resource');
    if (extra !== undefined) {
      throw new FlotillaError('VALIDATION_FAILED', `${extra.id} is a resource no release holds any more (${extra.resourceKey}); there is no desired state to revert it to: delete it, or adopt it into a release`);
    }
    const revert: DriftRevert[] = items.map((item) => ({ resourceKey: item.resourceKey, path: item.path }));
    const generation = this.store.transaction(() => {
      const result = this.desired.reissue(targetId, { revert, changedBy: actor });
      if (!result.changed) throw new FlotillaError('CONFLICT', `target ${targetId} has no desired state to revert to; assign a release first`);
      this.audit.append({ actor, action: 'drift.revert', subjects: [targetId], outcome: 'success', details: { generation: result.generation, items: items.map((item) => ({ id: item.id, resourceKey: item.resourceKey, path: item.path, class: item.class, ...(item.holdId === undefined ? {} : { holdId: item.holdId }) })) } });
      return result.generation;
    });
    this.desired.announce([targetId]);
    return { generation, items };
  }
}
