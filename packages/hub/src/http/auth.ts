import type { IncomingMessage } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';
import type { AgentPrincipal, IdentityService, OperatorPrincipal } from '../services/identity.ts';

export type Role = OperatorPrincipal['role'];

const RANK: Record<Role, number> = { viewer: 0, deployer: 1, approver: 1, admin: 2 };

function bearer(req: IncomingMessage): string {
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ') || header.length < 8) {
    throw new FlotillaError('UNAUTHENTICATED', 'this route needs an Authorization: Bearer token');
  }
  return header.slice(7);
}

function isAgentToken(token: string): boolean {
  // Access tokens are JWTs; operator tokens are opaque `fl_` secrets.
  return token.startsWith('eyJ');
}

/** The agent calling, which must be `targetId` itself: a token reaches only its own target. */
export async function requireAgent(identity: IdentityService, req: IncomingMessage, targetId: string): Promise<AgentPrincipal> {
  const token = bearer(req);
  if (!isAgentToken(token)) throw new FlotillaError('UNAUTHENTICATED', 'this route needs an agent access token from POST /v1/token');
  const principal = await identity.authenticateAgent(token);
  if (principal.targetId !== targetId) {
    throw new FlotillaError('FORBIDDEN', `the access token belongs to target ${principal.targetId}; it cannot reach target ${targetId}`);
  }
  return principal;
}

/** The operator calling, with at least `role` (deployer and approver are distinct peers). */
export function requireOperator(identity: IdentityService, req: IncomingMessage, role: Role): OperatorPrincipal {
  const principal = identity.authenticateOperator(bearer(req));
  const enough = principal.role === 'admin' || principal.role === role || (RANK[principal.role] > RANK[role] && role === 'viewer');
  if (!enough) throw new FlotillaError('FORBIDDEN', `this action needs the ${role} role; token ${principal.name} has ${principal.role}`);
  return principal;
}

/** Either kind of caller: used for documents both agents and operators read. */
export async function authenticate(identity: IdentityService, req: IncomingMessage): Promise<AgentPrincipal | OperatorPrincipal> {
  const token = bearer(req);
  return isAgentToken(token) ? identity.authenticateAgent(token) : identity.authenticateOperator(token);
}
