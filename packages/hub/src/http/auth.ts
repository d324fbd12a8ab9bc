import type { IncomingMessage } from 'node:http';
import { FlotillaError, TargetId } from '@flotilla/protocol';
import type { Query } from '@flotilla/protocol/query';
import type { RefusalInput } from '../audit-sink.ts';
import type { AgentPrincipal, CallerInfo, OperatorPrincipal, OperatorRole } from '../principal.ts';

/** What the routes need of identity to tell who is calling: the identity service. */
export interface Authenticator {
  authenticateAgent(token: string, caller?: CallerInfo): Promise<AgentPrincipal>;
  authenticateOperator(token: string, caller?: CallerInfo): OperatorPrincipal;
  /** Records a refused attempt the HTTP layer decided on (a role that is not enough, a token for another target). */
  refused(input: RefusalInput): void;
}

/**
 * Keeps a scoped token to its targets (docs/security.md, "Operators"): routes that declare
 * `scoped` narrow queries with `narrow` and check single targets with `check`.
 */
export interface TargetScope {
  /** The query a scoped principal may ask: its scope and `text` together; unscoped, `text` itself. */
  narrow(principal: OperatorPrincipal, text: string | undefined): string | undefined;
  /** A scoped principal's scope as a query, to be and-ed with what it asks; undefined when unscoped. */
  within(principal: OperatorPrincipal): Query | undefined;
  /**
   * Refuses (as `NOT_FOUND`, so existence is not revealed, and audited) a target outside a
   * scoped principal's scope.
   */
  check(principal: OperatorPrincipal, targetId: string, req: IncomingMessage): void;
}

const RANK: Record<OperatorRole, number> = { viewer: 0, deployer: 1, approver: 1, admin: 2 };

function bearer(req: IncomingMessage): string {
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ') || header.length < 8) {
    throw new FlotillaError('UNAUTHENTICATED', 'this route needs an Authorization: Bearer token');
  }
  return header.slice(7);
}

/** The remote address and request line recorded when a credential is refused; never the query string. */
export function callerOf(req: IncomingMessage): CallerInfo {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    remote: req.socket.remoteAddress ?? 'unknown',
    request: `${req.method ?? 'GET'} ${(q === -1 ? url : url.slice(0, q)).slice(0, 256)}`,
  };
}

function isAgentToken(token: string): boolean {
  // Access tokens are JWTs; operator tokens are opaque `fl_` secrets.
  return token.startsWith('eyJ');
}

/** The agent calling, which must be `targetId` itself: a token reaches only its own target. */
export async function requireAgent(
  identity: Authenticator,
  req: IncomingMessage,
  targetId: string,
): Promise<AgentPrincipal> {
  const token = bearer(req);
  if (!isAgentToken(token))
    throw new FlotillaError('UNAUTHENTICATED', 'this route needs an agent access token from POST /v1/token');
  const caller = callerOf(req);
  const principal = await identity.authenticateAgent(token, caller);
  if (principal.targetId !== targetId) {
    const error = new FlotillaError(
      'FORBIDDEN',
      `the access token belongs to target ${principal.targetId}; it cannot reach target ${targetId}`,
    );
    const subjects = TargetId.safeParse(targetId).success ? [principal.targetId, targetId] : [principal.targetId];
    identity.refused({
      actor: { kind: 'agent', id: principal.targetId },
      action: 'auth.refused',
      subjects,
      reason: error.code,
      remote: caller.remote,
      details: { credential: 'access-token', request: caller.request },
    });
    throw error;
  }
  return principal;
}

/** How a route treats a token limited to a scope. */
export interface OperatorRouteOptions {
  /**
   * The route narrows what it reads or changes to the token's scope itself (with
   * `narrowToScope` or `requireInScope`). Every other route refuses scoped tokens, so a route
   * that forgets about scopes fails closed.
   */
  readonly scoped?: boolean;
}

/**
 * The operator calling, with at least `role` (deployer and approver are distinct peers).
 * A token limited to a scope passes only routes that declare `scoped`.
 */
export function requireOperator(
  identity: Authenticator,
  req: IncomingMessage,
  role: OperatorRole,
  options: OperatorRouteOptions = {},
): OperatorPrincipal {
  const caller = callerOf(req);
  const principal = identity.authenticateOperator(bearer(req), caller);
  const enough =
    principal.role === 'admin' || principal.role === role || (RANK[principal.role] > RANK[role] && role === 'viewer');
  const outOfScope = enough && principal.scope !== undefined && options.scoped !== true;
  if (!enough || outOfScope) {
    const error = enough
      ? new FlotillaError(
          'FORBIDDEN',
          `token ${principal.name} is limited to the targets '${principal.scope}', and ${caller.request} reaches beyond them; use an unscoped token`,
        )
      : new FlotillaError(
          'FORBIDDEN',
          `this action needs the ${role} role; token ${principal.name} has ${principal.role}`,
        );
    identity.refused({
      actor: { kind: 'user', id: principal.name },
      action: 'auth.refused',
      reason: error.code,
      remote: caller.remote,
      details: {
        credential: 'api-token',
        tokenId: principal.tokenId,
        role: principal.role,
        needs: role,
        ...(principal.scope === undefined ? {} : { scope: principal.scope }),
        request: caller.request,
      },
    });
    throw error;
  }
  return principal;
}

/** Either kind of caller: used for documents both agents and operators read. */
export async function authenticate(
  identity: Authenticator,
  req: IncomingMessage,
): Promise<AgentPrincipal | OperatorPrincipal> {
  const token = bearer(req);
  const caller = callerOf(req);
  return isAgentToken(token) ? identity.authenticateAgent(token, caller) : identity.authenticateOperator(token, caller);
}
