/**
 * The shapes of the hub's answers the dashboard reads (docs/api.md). Read leniently: the
 * pages use these fields and ignore any others a newer hub adds.
 */

export interface Actor {
  readonly kind: string;
  readonly id: string;
}

export interface ReleaseRef {
  readonly name: string;
  readonly version: string;
  readonly digest: string;
}

export interface Facets {
  readonly total: number;
  readonly status: Record<string, number>;
  readonly health: Record<string, number>;
  readonly drift: Record<string, number>;
  readonly region: Record<string, number>;
  readonly tier: Record<string, number>;
  readonly kubernetesVersion: Record<string, number>;
  readonly running: Record<string, Record<string, number>>;
  readonly lastSeen?: Record<string, number>;
}

export interface TargetSummary {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly health: string | null;
  readonly phase: string | null;
  readonly drift: readonly string[];
  readonly intentional: number;
  readonly region: string | null;
  readonly tier: string | null;
  readonly kubernetesVersion: string | null;
  readonly running: readonly string[];
  readonly desiredGeneration: number;
  readonly observedGeneration: number | null;
  readonly lastSeenAt: string | null;
}

export interface BrowsePage {
  readonly items: readonly TargetSummary[];
  readonly total: number;
  readonly offset: number;
  readonly warnings?: readonly string[];
}

export interface Target {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly labels: Record<string, string>;
  readonly properties: Record<string, string | number | boolean>;
  readonly facts: Record<string, unknown>;
  readonly keyId: string;
  readonly desired: { readonly generation: number; readonly bundles: readonly ReleaseRef[] };
  readonly observed: null | { readonly seq: number; readonly generation: number; readonly phase: string; readonly health: string; readonly bundles: readonly ReleaseRef[]; readonly reportedAt: string };
  readonly drift?: { readonly counts: Record<string, number>; readonly intentional: number; readonly seq: number; readonly reportedAt: string };
  readonly enrolledAt: string;
  readonly lastSeenAt: string | null;
  readonly lastChangedAt: string;
  readonly lastChangedBy: Actor;
}

export interface DriftItem {
  readonly id: string;
  readonly targetId?: string;
  readonly target?: string;
  readonly reportedAt?: string;
  readonly resourceKey: string;
  readonly kind: string;
  readonly path: string;
  readonly change: string;
  readonly desired?: string;
  readonly observed?: string;
  readonly actor: { readonly manager: string; readonly operation: string };
  readonly class: string;
  readonly action: string;
  readonly reason: string;
  readonly intentional?: true;
  readonly holdId?: string;
}

export interface TargetDrift {
  readonly targetId: string;
  readonly seq: number | null;
  readonly reportedAt: string | null;
  readonly counts: Record<string, number>;
  readonly omitted: number;
  readonly items: readonly DriftItem[];
}

export interface Incident {
  readonly id: string;
  readonly selector: string;
  readonly reason: string;
  readonly state: 'open' | 'closed';
  readonly openedAt: string;
  readonly openedBy: Actor;
  readonly closedAt?: string;
  readonly closedBy?: Actor;
  readonly closeReason?: string;
}

export interface AuditEntry {
  readonly seq: number;
  readonly time: string;
  readonly actor: Actor;
  readonly action: string;
  readonly subjects: readonly string[];
  readonly outcome: 'success' | 'refused' | 'failure';
  readonly reason: string | null;
  readonly details: Record<string, unknown>;
  readonly hash: string;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  readonly nextCursor: string | null;
}

export interface WaveCounts {
  readonly total: number;
  readonly applied: number;
  readonly healthy: number;
  readonly failed: number;
  readonly pending: number;
  readonly blocked: number;
  readonly planned: number;
  readonly reverted: number;
  readonly reverting: number;
}

export interface RolloutSummary {
  readonly id: string;
  readonly release: ReleaseRef;
  readonly selector: string;
  readonly state: string;
  readonly reason: string | null;
  readonly currentWave: { readonly index: number; readonly name: string } | null;
  readonly waves: number;
  readonly members: number;
  readonly createdAt: string;
  readonly createdBy: Actor;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
}

export interface WaveView {
  readonly index: number;
  readonly name: string;
  readonly spec: string;
  readonly state: string;
  readonly gates: { readonly bake: string; readonly failureBudget: string; readonly timeout: string | null };
  readonly allowedFailures: number;
  readonly startedAt: string | null;
  readonly gatesMetAt: string | null;
  readonly bakeUntil: string | null;
  readonly timeoutAt: string | null;
  readonly finishedAt: string | null;
  readonly counts: WaveCounts;
}

export interface MemberView {
  readonly targetId: string;
  readonly name: string;
  readonly wave: string;
  readonly state: string;
  readonly reason?: string;
}

export interface RolloutView extends Omit<RolloutSummary, 'waves' | 'members'> {
  readonly plan: { readonly bake: string; readonly failureBudget: string; readonly timeout: string | null; readonly rollbackOnFailure: boolean };
  readonly selected: number;
  readonly outside: number;
  readonly totals: WaveCounts & { readonly members: number };
  readonly waves: readonly WaveView[];
  readonly members?: readonly MemberView[];
  readonly membersTotal?: number;
}

export interface Bundle {
  readonly name: string;
  readonly version: string;
  readonly digest: string;
  readonly createdAt: string;
}
