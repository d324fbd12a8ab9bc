import type { IncomingMessage } from 'node:http';
import { FlotillaError, type Target } from '@flotilla/protocol';
import { compileMatcher, parseQuery, type Query } from '@flotilla/protocol/query';
import type { RefusalSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import { callerOf, type TargetScope } from '../../http/auth.ts';
import type { OperatorPrincipal } from '../../principal.ts';

/** Reads one target's record (the targets feature's store). */
export interface ScopedTargets {
  target(id: string): Target | undefined;
}

export interface OperatorTargetScopeDeps {
  readonly targets: ScopedTargets;
  readonly refusals: RefusalSink;
  readonly clock: Clock;
}

/**
 * The scope of operators' tokens, applied to targets: a scoped token's queries are its scope
 * and what it asked, and a target outside its scope does not exist for it. Every refusal
 * is audited as `auth.refused` with reason `OUT_OF_SCOPE` in its details.
 */
export class OperatorTargetScope implements TargetScope {
  private readonly deps: OperatorTargetScopeDeps;

  constructor(deps: OperatorTargetScopeDeps) {
    this.deps = deps;
  }

  narrow(principal: OperatorPrincipal, text: string | undefined): string | undefined {
    if (principal.scope === undefined) return text;
    return text === undefined || text.trim() === '' ? principal.scope : `(${principal.scope}), (${text})`;
  }

  within(principal: OperatorPrincipal): Query | undefined {
    return principal.scope === undefined ? undefined : parseQuery(principal.scope);
  }

  check(principal: OperatorPrincipal, targetId: string, req: IncomingMessage): void {
    if (principal.scope === undefined) return;
    const target = this.deps.targets.target(targetId);
    if (target !== undefined && compileMatcher(parseQuery(principal.scope), { now: this.deps.clock() })(target)) return;
    const error = new FlotillaError(
      'NOT_FOUND',
      `no target ${targetId} within the scope '${principal.scope}' of token ${principal.name}`,
    );
    const caller = callerOf(req);
    this.deps.refusals.refused({
      actor: { kind: 'user', id: principal.name },
      action: 'auth.refused',
      subjects: target === undefined ? [] : [targetId],
      reason: error.code,
      remote: caller.remote,
      details: {
        credential: 'api-token',
        tokenId: principal.tokenId,
        scope: principal.scope,
        cause: 'out-of-scope',
        request: caller.request,
      },
    });
    throw error;
  }
}
