import type { Actor } from '@flotilla/protocol';

/** An agent authenticated by its access token: it may reach its own target only. */
export interface AgentPrincipal {
  readonly kind: 'agent';
  readonly targetId: string;
}

export type OperatorRole = 'viewer' | 'deployer' | 'approver' | 'admin';

/** An operator authenticated by an API token. */
export interface OperatorPrincipal {
  readonly kind: 'user';
  readonly tokenId: string;
  readonly name: string;
  readonly role: OperatorRole;
  /**
   * The canonical fleet query the token is limited to; absent: the whole fleet. Routes narrow
   * what they read and change to it, or refuse a scoped token (see `requireOperator`).
   */
  readonly scope?: string;
}

/** Where a request came from, for the audit entry of a refused credential. */
export interface CallerInfo {
  /** The remote address of the socket. */
  readonly remote: string;
  /** Method and path, without the query string: `GET /v1/targets`. */
  readonly request: string;
}

/** The actor an operator's change is recorded under: the name of the API token. */
export function actorOf(principal: OperatorPrincipal): Actor {
  return { kind: 'user', id: principal.name };
}
