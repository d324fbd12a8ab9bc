import { FlotillaError, isFlotillaError, type Actor } from '@flotilla/protocol';
import type {
  PolicyChangeResult,
  PolicyList,
  PolicySection,
  PolicyVersionInfo,
  PolicyView,
} from '@flotilla/protocol/api';
import { formatQuery } from '@flotilla/protocol/query';
import { diffPolicies, parsePolicy, policyDigest, policyScope, type Policy } from '@flotilla/protocol/policy';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { PolicyRecord, PolicyStore } from './policy-store.ts';

export interface PolicyServiceDeps {
  readonly tx: Transactions;
  readonly store: PolicyStore;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** Most problems of a refused document written into its audit entry. */
const AUDIT_PROBLEMS = 20;
const SECTIONS: readonly PolicySection[] = ['placement', 'artifacts', 'approvals', 'windows'];

function info(entry: PolicyRecord): PolicyVersionInfo {
  return {
    name: entry.name,
    version: entry.version,
    digest: entry.digest,
    deleted: entry.deleted,
    changedAt: new Date(entry.changedAt).toISOString(),
    changedBy: entry.changedBy,
  };
}

/** A stored document, as it was validated when stored. */
function documentOf(entry: PolicyRecord): Policy {
  return JSON.parse(entry.document) as Policy;
}

/**
 * Policies (docs/policy.md): applied whole or refused whole, versioned by name (re-applying an
 * unchanged document makes no version), deleted by a version that marks the name gone, and
 * every change and every refusal in the audit trail. The live set is what plans evaluate.
 */
export class PolicyService {
  private readonly deps: PolicyServiceDeps;
  private cached: { stamp: string; policies: readonly Policy[] } | undefined;

  constructor(deps: PolicyServiceDeps) {
    this.deps = deps;
  }

  /** The live policies, each with its `metadata.version`: what a plan evaluates. Cached until a change. */
  live(): readonly Policy[] {
    const stamp = this.deps.store.stamp();
    if (this.cached?.stamp !== stamp) this.cached = { stamp, policies: this.deps.store.live().map(documentOf) };
    return this.cached.policies;
  }

  list(): PolicyList {
    return {
      items: this.deps.store.live().map((entry) => {
        const policy = documentOf(entry);
        return {
          ...info(entry),
          scope: formatQuery(policyScope(policy)),
          sections: SECTIONS.filter((section) => policy.spec[section] !== undefined),
          ...(policy.metadata.description === undefined ? {} : { description: policy.metadata.description }),
        };
      }),
    };
  }

  /** One version of a policy (the live one by default) and its history. */
  view(name: string, version?: number): PolicyView {
    const history = this.deps.store.history(name);
    if (history.length === 0)
      throw new FlotillaError('NOT_FOUND', `no policy is named ${name}; flotilla policy ls lists them`);
    const entry = version === undefined ? history[0]! : history.find((item) => item.version === version);
    if (entry === undefined)
      throw new FlotillaError(
        'NOT_FOUND',
        `policy ${name} has no version ${version}; its versions are 1 to ${history[0]!.version}`,
      );
    if (version === undefined && entry.deleted)
      throw new FlotillaError(
        'NOT_FOUND',
        `policy ${name} was deleted in version ${entry.version}; ask for an earlier one with --version`,
      );
    return { info: info(entry), document: documentOf(entry), history: history.map(info) };
  }

  /**
   * Validates a document whole and stores it as the next version of its name, with its audit
   * entry. An invalid document stores nothing and is audited as refused.
   *
   * @throws FlotillaError `POLICY_INVALID` with `details.problems`.
   */
  apply(input: unknown, actor: Actor): PolicyChangeResult {
    const policy = this.parse(input, actor);
    const { name } = policy.metadata;
    const digest = policyDigest(policy);
    return this.deps.tx.run(() => {
      const latest = this.deps.store.latest(name);
      const live = latest === undefined || latest.deleted ? undefined : documentOf(latest);
      if (live !== undefined && latest!.digest === digest)
        return { name, from: latest!.version, to: latest!.version, changed: false, changes: [] };
      const version = (latest?.version ?? 0) + 1;
      const stored: Policy = { ...policy, metadata: { ...policy.metadata, version } };
      const changes = diffPolicies(live, policy);
      this.deps.store.insert({
        name,
        version,
        document: JSON.stringify(stored),
        digest,
        deleted: false,
        changedAt: this.deps.clock(),
        changedBy: actor,
      });
      this.deps.audit.append({
        actor,
        action: 'policy.apply',
        subjects: [],
        outcome: 'success',
        details: { policy: `${name}@${version}`, digest, changes: changes.slice(0, 100) },
      });
      return { name, from: live === undefined ? null : latest!.version, to: version, changed: true, changes };
    });
  }

  /** What applying `input` would change, without storing anything. */
  diff(input: unknown): PolicyChangeResult {
    const policy = parsePolicy(input);
    const latest = this.deps.store.latest(policy.metadata.name);
    const live = latest === undefined || latest.deleted ? undefined : documentOf(latest);
    const changes = diffPolicies(live, policy);
    const from = live === undefined ? null : latest!.version;
    return {
      name: policy.metadata.name,
      from,
      to: changes.length === 0 ? from : (latest?.version ?? 0) + 1,
      changed: changes.length > 0,
      changes,
    };
  }

  /** The difference between two stored versions of a policy (`to` defaults to the latest). */
  diffVersions(name: string, from: number, to?: number): PolicyChangeResult {
    const history = this.deps.store.history(name);
    if (history.length === 0)
      throw new FlotillaError('NOT_FOUND', `no policy is named ${name}; flotilla policy ls lists them`);
    const pick = (version: number): PolicyRecord => {
      const entry = history.find((item) => item.version === version);
      if (entry === undefined)
        throw new FlotillaError(
          'NOT_FOUND',
          `policy ${name} has no version ${version}; its versions are 1 to ${history[0]!.version}`,
        );
      return entry;
    };
    const before = pick(from);
    const after = to === undefined ? history[0]! : pick(to);
    const changes = diffPolicies(
      before.deleted ? undefined : documentOf(before),
      after.deleted ? undefined : documentOf(after),
    );
    return { name, from: before.version, to: after.version, changed: changes.length > 0, changes };
  }

  /** Removes a policy from the live set by storing a deletion as its next version. */
  delete(name: string, actor: Actor): PolicyChangeResult {
    return this.deps.tx.run(() => {
      const latest = this.deps.store.latest(name);
      if (latest === undefined || latest.deleted)
        throw new FlotillaError('NOT_FOUND', `no policy is named ${name}; flotilla policy ls lists them`);
      const version = latest.version + 1;
      const changes = diffPolicies(documentOf(latest), undefined);
      this.deps.store.insert({ ...latest, version, deleted: true, changedAt: this.deps.clock(), changedBy: actor });
      this.deps.audit.append({
        actor,
        action: 'policy.delete',
        subjects: [],
        outcome: 'success',
        details: { policy: `${name}@${version}`, deletedVersion: latest.version },
      });
      return { name, from: latest.version, to: version, changed: true, changes };
    });
  }

  private parse(input: unknown, actor: Actor): Policy {
    try {
      return parsePolicy(input);
    } catch (error) {
      if (isFlotillaError(error)) {
        const problems = error.details?.['problems'];
        this.deps.tx.run(() =>
          this.deps.audit.append({
            actor,
            action: 'policy.apply',
            subjects: [],
            outcome: 'refused',
            reason: error.code,
            details: {
              ...nameOf(input),
              problems: Array.isArray(problems) ? problems.slice(0, AUDIT_PROBLEMS) : [],
            },
          }),
        );
      }
      throw error;
    }
  }
}

/** The name a refused document claims, when it claims a string one, for its audit entry. */
function nameOf(input: unknown): { name?: string } {
  const metadata =
    typeof input === 'object' && input !== null ? (input as Record<string, unknown>)['metadata'] : undefined;
  const name =
    typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['name'] : undefined;
  return typeof name === 'string' ? { name: name.slice(0, 64) } : {};
}
