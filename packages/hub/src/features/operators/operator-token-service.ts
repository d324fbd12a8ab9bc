import { randomBytes } from 'node:crypto';
import { FlotillaError, type Actor } from '@flotilla/protocol';
import type { ApiToken, ApiTokenList, CreateApiTokenRequest, CreatedApiToken } from '@flotilla/protocol/api';
import { formatQuery, parseQuery } from '@flotilla/protocol/query';
import type { AuditSink, RefusalSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { CallerInfo, OperatorPrincipal } from '../../principal.ts';
import type { Transactions } from '../../store/transaction.ts';
import { hashSecret } from '../identity/identity-service.ts';
import type { OperatorTokenRecord, OperatorTokenStore } from './operator-token-store.ts';

export interface OperatorTokenServiceDeps {
  readonly tx: Transactions;
  readonly store: OperatorTokenStore;
  readonly audit: AuditSink;
  readonly refusals: RefusalSink;
  readonly clock: Clock;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function view(token: OperatorTokenRecord): ApiToken {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    ...(token.scope === null ? {} : { scope: token.scope }),
    createdAt: iso(token.createdAt),
    createdBy: token.createdBy,
    ...(token.expiresAt === null ? {} : { expiresAt: iso(token.expiresAt) }),
    ...(token.revokedAt === null ? {} : { revokedAt: iso(token.revokedAt) }),
  };
}

/**
 * Operators' API tokens (docs/security.md, "Operators"): each with a name (its actor in the
 * audit trail), a role, an optional scope and lifetime. Secrets are shown once and stored
 * hashed; a token is checked on every request against its revocation and expiry, answered
 * from memory after the first time, so revoking takes effect at once.
 */
export class OperatorTokenService {
  private readonly deps: OperatorTokenServiceDeps;
  /** Known tokens by hash; unknown ones are never cached, so guesses cannot grow it. */
  private readonly known = new Map<string, { principal: OperatorPrincipal; expiresAt: number | null }>();

  constructor(deps: OperatorTokenServiceDeps) {
    this.deps = deps;
  }

  /**
   * Creates a token and returns its secret, the only time it is shown.
   *
   * @throws FlotillaError `CONFLICT` when a live token has the name; a query error for a bad scope.
   */
  create(request: CreateApiTokenRequest, actor: Actor): CreatedApiToken {
    const { tx, store, audit, clock } = this.deps;
    const scope = request.scope === undefined ? null : formatQuery(parseQuery(request.scope));
    if (scope === '')
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'the scope selects every target; leave --scope out for a token that reaches the whole fleet',
        { path: 'scope' },
      );
    const secret = `fl_${request.role}_${randomBytes(24).toString('base64url')}`;
    const now = clock();
    const token: OperatorTokenRecord = {
      id: `tok_${randomBytes(8).toString('hex')}`,
      name: request.name,
      role: request.role,
      scope,
      createdAt: now,
      createdBy: actor.id,
      expiresAt: request.ttlSeconds === undefined ? null : now + request.ttlSeconds * 1000,
      revokedAt: null,
    };
    tx.run(() => {
      if (store.liveByName(request.name, now).length > 0)
        throw new FlotillaError(
          'CONFLICT',
          `a token named ${request.name} exists; names are the actors of the audit trail, so revoke it first or pick another`,
        );
      store.insert({ ...token, hash: hashSecret(secret) });
      audit.append({
        actor,
        action: 'token.create',
        subjects: [],
        outcome: 'success',
        details: {
          tokenId: token.id,
          name: token.name,
          role: token.role,
          ...(scope === null ? {} : { scope }),
          ...(token.expiresAt === null ? {} : { expiresAt: iso(token.expiresAt) }),
        },
      });
    });
    return { ...view(token), token: secret };
  }

  list(): ApiTokenList {
    return { items: this.deps.store.list().map(view) };
  }

  /** Revokes a token by id or by the name of a live one; every later request with it is refused. */
  revoke(idOrName: string, actor: Actor): ApiToken {
    const { tx, store, audit, clock } = this.deps;
    return tx.run(() => {
      const now = clock();
      const token = idOrName.startsWith('tok_') ? store.byId(idOrName) : store.liveByName(idOrName, now)[0];
      if (token === undefined)
        throw new FlotillaError('NOT_FOUND', `no token is ${idOrName}; flotilla token ls lists them`);
      if (!store.revoke(token.id, now))
        throw new FlotillaError('CONFLICT', `token ${token.id} (${token.name}) was already revoked`);
      audit.append({
        actor,
        action: 'token.revoke',
        subjects: [],
        outcome: 'success',
        details: { tokenId: token.id, name: token.name, role: token.role },
      });
      this.forget(token.id);
      return view({ ...token, revokedAt: now });
    });
  }

  /** Drops what is known of a token: revoked here, or on another replica (replicas/replica-caches.ts). */
  forget(tokenId: string): void {
    for (const [hash, entry] of this.known) if (entry.principal.tokenId === tokenId) this.known.delete(hash);
  }

  /**
   * The operator behind a token. Unknown, revoked and expired tokens are refused and, when
   * `caller` is given, recorded as `auth.refused` (never with the token or its hash).
   */
  authenticate(secret: string, caller?: CallerInfo): OperatorPrincipal {
    const hash = hashSecret(secret);
    const now = this.deps.clock();
    let entry = this.known.get(hash);
    if (entry === undefined) {
      const token = this.deps.store.byHash(hash);
      if (token === undefined || token.revokedAt !== null) {
        throw this.refuse(
          new FlotillaError(
            'UNAUTHENTICATED',
            token === undefined ? 'the API token is not known to this hub' : 'the API token has been revoked',
          ),
          token,
          caller,
        );
      }
      entry = {
        principal: {
          kind: 'user',
          tokenId: token.id,
          name: token.name,
          role: token.role,
          ...(token.scope === null ? {} : { scope: token.scope }),
        },
        expiresAt: token.expiresAt,
      };
      this.known.set(hash, entry);
    }
    if (entry.expiresAt !== null && entry.expiresAt <= now) {
      throw this.refuse(
        new FlotillaError(
          'TOKEN_EXPIRED',
          `the API token ${entry.principal.name} expired at ${iso(entry.expiresAt)}; ask an admin for a new one`,
        ),
        this.deps.store.byId(entry.principal.tokenId),
        caller,
      );
    }
    return entry.principal;
  }

  private refuse(error: FlotillaError, token: OperatorTokenRecord | undefined, caller?: CallerInfo): FlotillaError {
    if (caller !== undefined) {
      this.deps.refusals.refused({
        actor: { kind: 'user', id: token?.name ?? 'unknown' },
        action: 'auth.refused',
        reason: error.code,
        remote: caller.remote,
        details: {
          credential: 'api-token',
          request: caller.request,
          ...(token === undefined ? {} : { tokenId: token.id }),
        },
      });
    }
    return error;
  }
}
