import type { IncomingMessage } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';
import { parseQuery, type Query } from '@flotilla/protocol/query';
import type { RefusalSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import { callerOf, type TargetScope } from '../../http/auth.ts';
import type { OperatorPrincipal } from '../../principal.ts';
import type { RolloutRow } from './rollout-store.ts';

/** The rollouts' records and members (this feature's store). */
export interface ScopedRollouts {
  get(id: string): RolloutRow | undefined;
  memberIds(id: string): Set<string>;
}

/** The ids of the targets a query selects (the targets feature). */
export interface ScopeFleet {
  ids(query: Query | undefined, now?: number): string[];
}

export interface RolloutScopeDeps {
  readonly rollouts: ScopedRollouts;
  readonly fleet: ScopeFleet;
  readonly scope: Pick<TargetScope, 'within'>;
  readonly refusals: RefusalSink;
  readonly clock: Clock;
}

/** The targets a scoped token reaches, computed once per request. */
export interface ScopeTargets {
  readonly scope: string;
  readonly ids: ReadonlySet<string>;
}

/**
 * Scoped operator tokens on rollouts (docs/security.md, "Operators"): a rollout is within a
 * token's scope when every target it has reached (its members) and every target its
 * selector selects now lies inside the scope. A scoped token lists and reads only such
 * rollouts (any other is `NOT_FOUND` to it, so its existence is not revealed) and steers
 * only such rollouts (`FORBIDDEN` naming the scope). Every refusal is audited as
 * `auth.refused` with cause `out-of-scope`.
 */
export class RolloutScope {
  private readonly deps: RolloutScopeDeps;

  constructor(deps: RolloutScopeDeps) {
    this.deps = deps;
  }

  /** The targets a scoped principal reaches; undefined for an unscoped one. */
  targets(principal: OperatorPrincipal): ScopeTargets | undefined {
    const within = this.deps.scope.within(principal);
    if (within === undefined) return undefined;
    return { scope: principal.scope!, ids: new Set(this.deps.fleet.ids(within, this.deps.clock())) };
  }

  /** Whether every member of the rollout and every target its selector selects is in scope. */
  covers(targets: ScopeTargets, row: RolloutRow): boolean {
    for (const id of this.deps.rollouts.memberIds(row.id)) if (!targets.ids.has(id)) return false;
    const selector = row.selector.trim() === '' ? undefined : parseQuery(row.selector);
    for (const id of this.deps.fleet.ids(selector, this.deps.clock())) if (!targets.ids.has(id)) return false;
    return true;
  }

  /** {@link covers} by the rollout's id; false for a rollout that does not exist. */
  coversId(targets: ScopeTargets, id: string): boolean {
    const row = this.deps.rollouts.get(id);
    return row !== undefined && this.covers(targets, row);
  }

  /** Lets a scoped principal read the rollout only when it is within its scope; else `NOT_FOUND`, audited. */
  requireReadable(principal: OperatorPrincipal, id: string, req: IncomingMessage): void {
    const targets = this.targets(principal);
    if (targets === undefined) return;
    if (this.coversId(targets, id)) return;
    this.refuse(
      principal,
      req,
      id,
      new FlotillaError('NOT_FOUND', `no rollout ${id} within the scope '${targets.scope}' of token ${principal.name}`),
    );
  }

  /** Lets a scoped principal steer the rollout only when it is within its scope; else `FORBIDDEN`, audited. */
  requireSteerable(principal: OperatorPrincipal, id: string, verb: string, req: IncomingMessage): void {
    const targets = this.targets(principal);
    if (targets === undefined) return;
    const row = this.deps.rollouts.get(id);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `rollout ${id} does not exist`);
    if (this.covers(targets, row)) return;
    this.refuse(
      principal,
      req,
      id,
      new FlotillaError(
        'FORBIDDEN',
        `token ${principal.name} is limited to the targets '${targets.scope}', and rollout ${id} reaches targets outside them; it cannot ${verb} it, use an unscoped token`,
      ),
    );
  }

  private refuse(principal: OperatorPrincipal, req: IncomingMessage, rolloutId: string, error: FlotillaError): never {
    const caller = callerOf(req);
    this.deps.refusals.refused({
      actor: { kind: 'user', id: principal.name },
      action: 'auth.refused',
      subjects: [],
      reason: error.code,
      remote: caller.remote,
      details: {
        credential: 'api-token',
        tokenId: principal.tokenId,
        scope: principal.scope ?? null,
        cause: 'out-of-scope',
        rollout: rolloutId,
        request: caller.request,
      },
    });
    throw error;
  }
}
