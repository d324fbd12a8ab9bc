import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, importJWK, jwtVerify, SignJWT, errors as joseErrors, type CryptoKey } from 'jose';
import {
  FlotillaError,
  assertUsablePublicKey,
  canonicalize,
  isUsablePublicKey,
  keyIdOf,
  TargetId,
  sha256,
  verifyCanonicalInPool,
  verifyPayload,
  type Labels,
  type TargetStatus,
} from '@flotilla/protocol';
import type {
  CreateEnrollmentTokenRequest,
  EnrollmentToken,
  EnrollProof,
  EnrollRequest,
  EnrollResponse,
  TokenResponse,
} from '@flotilla/protocol/api';
import type { AccessTokenMetrics } from '../metrics/hub-metrics.ts';
import type { AuditSink, RefusalInput, RefusalSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Authenticator } from '../../http/auth.ts';
import type { AgentPrincipal, CallerInfo, OperatorPrincipal } from '../../principal.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { EnrollmentTokenRecord, IdentityStore } from './identity-store.ts';
import type { HubKeys, TrustService } from './trust-service.ts';
import { guarded, type BackgroundFailures } from '../../store/store-health.ts';

const ACCESS_TOKEN_MAX_SECONDS = 15 * 60;
const ASSERTION_MAX_SECONDS = 60;
const PROOF_SKEW_MS = 5 * 60_000;

/** The target records enrollment creates and reads (the targets feature). */
export interface EnrolledTargets {
  byPublicKey(
    publicKey: string,
  ): { readonly id: string; readonly name: string; readonly status: TargetStatus } | undefined;
  isNameTaken(name: string): boolean;
  insert(target: {
    readonly id: string;
    readonly name: string;
    readonly publicKey: string;
    readonly keyId: string;
    readonly labels: Labels;
    readonly enrolledAt: number;
    readonly actor: { readonly kind: 'agent'; readonly id: string };
  }): void;
}

/** A target's credentials as the check-in path holds them in memory (the targets feature's cache). */
export interface TargetCredentials {
  get(
    id: string,
  ):
    | { readonly id: string; readonly status: TargetStatus; readonly publicKey: string; readonly keyId: string }
    | undefined;
  invalidate(id: string): void;
}

export interface IdentityServiceDeps {
  readonly tx: Transactions;
  readonly store: IdentityStore;
  readonly targets: EnrolledTargets;
  readonly credentials: TargetCredentials;
  readonly trust: TrustService;
  readonly audit: AuditSink;
  /**
   * Records refused attempts (bad enrollment tokens, forged proofs, unknown API tokens);
   * without it they are appended to `audit` one by one, unthrottled.
   */
  readonly refusals?: RefusalSink;
  readonly clock: Clock;
  readonly keys: HubKeys;
  readonly accessTokenSeconds?: number;
  /** Where the sweep's failures go; without it they are thrown (tests). */
  readonly failures?: BackgroundFailures;
  /** Operators' API tokens (the operators feature). */
  readonly operators: OperatorAuthentication;
  /** Counts the access tokens checked by signature rather than answered from the cache. */
  readonly metrics?: AccessTokenMetrics;
}

/** Tells the operator behind an API token, refusing unknown, revoked and expired ones. */
export interface OperatorAuthentication {
  authenticate(token: string, caller?: CallerInfo): OperatorPrincipal;
}

interface CachedAccessToken {
  readonly targetId: string;
  readonly keyId: string;
  readonly expiresAt: number;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** What an enrolling agent signs to prove it holds its key: the key, the token's digest, a fresh time. */
function proofOf(request: EnrollRequest): EnrollProof {
  return { publicKey: request.publicKey, tokenDigest: sha256(request.token), issuedAt: request.issuedAt };
}

function secret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/**
 * Who may talk to the hub: enrollment of agents, their short-lived access tokens, and
 * operators' API tokens. Access tokens are verified once and then answered from memory, so a
 * check-in costs a map lookup, not an Ed25519 verification.
 */
export class IdentityService implements Authenticator {
  private readonly accessTokens = new Map<string, CachedAccessToken>();
  private readonly verifying = new Map<string, Promise<CachedAccessToken | FlotillaError>>();
  private readonly metrics: AccessTokenMetrics | undefined;
  private readonly deps: IdentityServiceDeps;
  private readonly refusals: RefusalSink;
  private readonly signingKey: CryptoKey;
  private readonly verifyKey: CryptoKey;
  private readonly accessTokenSeconds: number;
  private sweep: NodeJS.Timeout | undefined;
  /** Enrollment requests whose proof {@link submitEnrollment} verified on the thread pool. */
  private readonly provenEnrollments = new WeakSet<EnrollRequest>();

  private constructor(
    deps: IdentityServiceDeps,
    keys: { signing: CryptoKey; verify: CryptoKey },
    accessTokenSeconds: number,
  ) {
    this.deps = deps;
    const { audit } = deps;
    this.refusals = deps.refusals ?? {
      refused: (input) =>
        audit.append({
          actor: input.actor,
          action: input.action,
          subjects: input.subjects ?? [],
          outcome: 'refused',
          reason: input.reason,
          details: { ...input.details, remote: input.remote },
        }),
    };
    this.signingKey = keys.signing;
    this.verifyKey = keys.verify;
    this.accessTokenSeconds = accessTokenSeconds;
    this.metrics = deps.metrics;
  }

  static async create(deps: IdentityServiceDeps): Promise<IdentityService> {
    const seconds = deps.accessTokenSeconds ?? ACCESS_TOKEN_MAX_SECONDS;
    if (!Number.isInteger(seconds) || seconds < 30 || seconds > ACCESS_TOKEN_MAX_SECONDS) {
      throw new TypeError(
        `accessTokenSeconds must be an integer from 30 to ${ACCESS_TOKEN_MAX_SECONDS}, received ${seconds}`,
      );
    }
    const signing: CryptoKey = await importJWK(
      { kty: 'OKP', crv: 'Ed25519', x: deps.keys.hub.publicKey, d: deps.keys.hub.seed },
      'EdDSA',
    );
    const verify: CryptoKey = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: deps.keys.hub.publicKey }, 'EdDSA');
    return new IdentityService(deps, { signing, verify }, seconds);
  }

  /** Forgets used assertion ids once they expired, every minute; the timer does not keep the process alive. */
  start(): void {
    this.stop();
    const sweep = (): void => {
      this.deps.store.pruneJtis(this.deps.clock());
    };
    const failures = this.deps.failures;
    this.sweep = setInterval(failures === undefined ? sweep : guarded(failures, 'jti sweep', sweep), 60_000);
    this.sweep.unref();
  }

  stop(): void {
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.sweep = undefined;
  }

  /** Records a refused attempt the HTTP layer decided on (a role that is not enough, a token for another target). */
  refused(input: RefusalInput): void {
    this.refusals.refused(input);
  }

  /** Creates the first admin token when the hub has none; returns its secret once. */
  bootstrapAdminToken(): string | undefined {
    if (this.deps.store.apiTokenCount() > 0) return undefined;
    const token = secret('fl_admin');
    this.deps.store.insertApiToken({
      id: `tok_${randomBytes(8).toString('hex')}`,
      name: 'admin',
      hash: hashSecret(token),
      role: 'admin',
      createdAt: this.deps.clock(),
    });
    return token;
  }

  createEnrollmentToken(request: CreateEnrollmentTokenRequest, actor: OperatorPrincipal): EnrollmentToken {
    const { tx, store, audit, clock } = this.deps;
    const token = secret('fl_enroll');
    const now = clock();
    const record = {
      id: `enr_${randomBytes(8).toString('hex')}`,
      hash: hashSecret(token),
      labels: request.labels,
      description: request.description ?? null,
      maxUses: request.maxUses,
      expiresAt: now + request.ttlSeconds * 1000,
      createdAt: now,
      createdBy: actor.tokenId,
    };
    tx.run(() => {
      store.insertEnrollmentToken(record);
      audit.append({
        actor: { kind: 'user', id: actor.name },
        action: 'enrollment-token.create',
        subjects: [],
        outcome: 'success',
        details: {
          tokenId: record.id,
          maxUses: record.maxUses,
          expiresAt: new Date(record.expiresAt).toISOString(),
          labels: request.labels,
        },
      });
    });
    return { ...enrollmentTokenView({ ...record, uses: 0, revokedAt: null }), token };
  }

  enrollmentTokens(): EnrollmentToken[] {
    return this.deps.store.enrollmentTokens().map(enrollmentTokenView);
  }

  /**
   * Revokes an enrollment token, audited as `enrollment-token.revoke` in the same transaction:
   * agents already enrolled with it keep their identity, no new one enrolls. Revoking a revoked
   * token changes nothing.
   */
  revokeEnrollmentToken(id: string, actor: OperatorPrincipal): EnrollmentToken {
    const { tx, store, audit, clock } = this.deps;
    return tx.run(() => {
      const record = store.enrollmentTokenById(id);
      if (record === undefined)
        throw new FlotillaError('NOT_FOUND', `no enrollment token ${id}; list them with \`flotilla enroll-token ls\``);
      if (record.revokedAt !== null) return enrollmentTokenView(record);
      const now = clock();
      store.revokeEnrollmentToken(id, now);
      audit.append({
        actor: { kind: 'user', id: actor.name },
        action: 'enrollment-token.revoke',
        subjects: [],
        outcome: 'success',
        details: { tokenId: id, uses: record.uses },
      });
      return enrollmentTokenView({ ...record, revokedAt: now });
    });
  }

  /**
   * {@link enroll} in a transaction shared with the other enrollments arriving in the same turn
   * of the event loop: what `POST /v1/enroll` calls, so a fleet enrolling at once costs a
   * commit per group rather than per agent.
   */
  async submitEnrollment(request: EnrollRequest, remote: string): Promise<EnrollResponse> {
    // The proof is checked first on libuv's thread pool, so the event loop takes other
    // enrollments meanwhile; one that does not verify there is refused by enroll's own check.
    if (
      isUsablePublicKey(request.publicKey) &&
      (await verifyCanonicalInPool('enroll', canonicalize(proofOf(request)), request.proof, request.publicKey))
    )
      this.provenEnrollments.add(request);
    return this.deps.tx.group(() => this.enroll(request, remote));
  }

  /**
   * Binds a new target id to the agent's public key. The agent proves it holds the private
   * key by signing the token's digest and a fresh time. Enrolling the same key again returns
   * the same target without spending a use, so a retry after a lost answer is safe.
   */
  enroll(request: EnrollRequest, remote: string): EnrollResponse {
    const { tx, store, targets, credentials, audit } = this.deps;
    const now = this.deps.clock();
    // Recorded outside any transaction: the refusal must outlive the rollback of the attempt.
    const refuse = (error: FlotillaError): never => {
      this.refusals.refused({
        actor: { kind: 'agent', id: keyIdSafe(request.publicKey) },
        action: 'target.enroll',
        reason: error.code,
        remote,
        details: { message: error.message },
      });
      throw error;
    };
    try {
      assertUsablePublicKey(request.publicKey, 'public key');
    } catch (error) {
      refuse(error as FlotillaError);
    }
    const row = store.enrollmentTokenByHash(hashSecret(request.token));
    if (row === undefined)
      return refuse(
        new FlotillaError(
          'ENROLL_TOKEN_INVALID',
          'the enrollment token is not known to this hub; ask an operator for a token with `flotilla enroll-token create`',
        ),
      );
    if (row.revokedAt !== null)
      return refuse(
        new FlotillaError(
          'ENROLL_TOKEN_REVOKED',
          `the enrollment token ${row.id} was revoked at ${new Date(row.revokedAt).toISOString()}; ask an operator for a new one`,
        ),
      );
    if (row.expiresAt <= now)
      return refuse(
        new FlotillaError(
          'ENROLL_TOKEN_EXPIRED',
          `the enrollment token ${row.id} expired at ${new Date(row.expiresAt).toISOString()}; ask an operator for a new one`,
        ),
      );
    const issuedAt = Date.parse(request.issuedAt);
    if (Math.abs(issuedAt - now) > PROOF_SKEW_MS) {
      return refuse(
        new FlotillaError(
          'PROOF_INVALID',
          `the proof of possession was made at ${request.issuedAt}, more than 5 minutes from the hub's time ${new Date(now).toISOString()}; check the agent's clock`,
        ),
      );
    }
    if (
      !this.provenEnrollments.has(request) &&
      !verifyPayload('enroll', proofOf(request), request.proof, request.publicKey)
    ) {
      return refuse(
        new FlotillaError('PROOF_INVALID', 'the proof of possession does not verify against the presented public key'),
      );
    }
    let refusal: FlotillaError | undefined;
    const response = tx.run((): EnrollResponse | undefined => {
      const existing = targets.byPublicKey(request.publicKey);
      if (existing !== undefined) {
        if (existing.status === 'revoked') {
          refusal = new FlotillaError(
            'TARGET_REVOKED',
            `target ${existing.id} was revoked; generate a new key pair to enroll again`,
          );
          return undefined;
        }
        return this.enrollResponse(existing.id, existing.name);
      }
      if (!store.useEnrollmentToken(row.id)) {
        refusal = new FlotillaError(
          'ENROLL_TOKEN_USED_UP',
          `the enrollment token ${row.id} has been used ${row.maxUses} of ${row.maxUses} times; ask an operator for a new one`,
        );
        return undefined;
      }
      const id = `tgt_${randomBytes(10).toString('hex')}`;
      const name = this.uniqueName(request.name ?? `target-${id.slice(4, 12)}`);
      const labels = row.labels;
      targets.insert({
        id,
        name,
        publicKey: request.publicKey,
        keyId: keyIdOf(request.publicKey),
        labels,
        enrolledAt: now,
        actor: { kind: 'agent', id },
      });
      credentials.invalidate(id);
      audit.append({
        actor: { kind: 'agent', id },
        action: 'target.enroll',
        subjects: [id],
        outcome: 'success',
        details: { name, keyId: keyIdOf(request.publicKey), enrollmentToken: row.id, labels, remote },
      });
      return this.enrollResponse(id, name);
    });
    if (response === undefined) return refuse(refusal!);
    return response;
  }

  private enrollResponse(targetId: string, name: string): EnrollResponse {
    const { trust } = this.deps;
    return { targetId, name, hubId: trust.hubId, audience: trust.audience, trustRoot: trust.signed };
  }

  private uniqueName(wanted: string): string {
    if (!this.deps.targets.isNameTaken(wanted)) return wanted;
    for (;;) {
      const candidate = `${wanted.slice(0, 58)}-${randomBytes(2).toString('hex')}`;
      if (!this.deps.targets.isNameTaken(candidate)) return candidate;
    }
  }

  /**
   * Exchanges an assertion signed by the agent's key (audience exactly this hub, expiring
   * within a minute, its `jti` never seen before) for a hub-signed access token bound to
   * that key.
   */
  async issueAccessToken(assertion: string, remote: string): Promise<TokenResponse> {
    let claims: ReturnType<typeof decodeJwt>;
    try {
      claims = decodeJwt(assertion);
    } catch {
      throw new FlotillaError('UNAUTHENTICATED', 'the assertion is not a JWT');
    }
    const targetId = typeof claims.sub === 'string' ? claims.sub : undefined;
    const { trust, credentials } = this.deps;
    const state = targetId === undefined ? undefined : credentials.get(targetId);
    const refuse = (error: FlotillaError): never => {
      this.refusals.refused({
        actor: { kind: 'agent', id: claimedAgent(targetId) },
        action: 'token.issue',
        subjects: state === undefined ? [] : [state.id],
        reason: error.code,
        remote,
        details: { message: error.message },
      });
      throw error;
    };
    if (state === undefined)
      return refuse(new FlotillaError('UNAUTHENTICATED', 'the assertion names no enrolled target in its sub claim'));
    if (state.status === 'revoked') return refuse(new FlotillaError('TARGET_REVOKED', `target ${state.id} is revoked`));
    const now = this.deps.clock();
    let verified;
    try {
      const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: state.publicKey }, 'EdDSA');
      verified = await jwtVerify(assertion, key, {
        algorithms: ['EdDSA'],
        audience: trust.audience,
        issuer: state.id,
        subject: state.id,
        currentDate: new Date(now),
        clockTolerance: 30,
      });
    } catch (error) {
      const reason =
        error instanceof joseErrors.JWTExpired
          ? 'the assertion has expired'
          : error instanceof joseErrors.JWTClaimValidationFailed
            ? `the assertion's ${error.claim} claim is wrong: ${error.reason}`
            : 'the assertion signature does not verify against the target key';
      return refuse(
        new FlotillaError(error instanceof joseErrors.JWTExpired ? 'TOKEN_EXPIRED' : 'UNAUTHENTICATED', reason),
      );
    }
    const { exp, jti, iat, aud } = verified.payload;
    // jose takes an array that contains the audience; the documented rule is exactly the hub.
    if (aud !== trust.audience)
      return refuse(
        new FlotillaError('UNAUTHENTICATED', `the assertion's aud claim must be exactly the string ${trust.audience}`),
      );
    if (exp === undefined || exp * 1000 - now > ASSERTION_MAX_SECONDS * 1000 + 30_000) {
      return refuse(
        new FlotillaError('UNAUTHENTICATED', `an assertion must expire within ${ASSERTION_MAX_SECONDS} seconds`),
      );
    }
    // An assertion is signed just before it is sent: an iat far from the hub's clock (or 0, or
    // negative) is a forged or replayed one, or a clock that is badly wrong.
    if (
      typeof iat !== 'number' ||
      !Number.isInteger(iat) ||
      iat <= 0 ||
      iat > exp ||
      Math.abs(iat * 1000 - now) > (ASSERTION_MAX_SECONDS + 30) * 1000
    ) {
      return refuse(
        new FlotillaError(
          'UNAUTHENTICATED',
          `the assertion's iat claim must be when it was signed, within ${ASSERTION_MAX_SECONDS + 30} seconds of the hub's clock; received ${iat === undefined ? 'none' : String(iat)}`,
        ),
      );
    }
    if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128)
      return refuse(new FlotillaError('UNAUTHENTICATED', 'the assertion needs a jti of 16 to 128 characters'));
    // exp is a NumericDate, which may have a fraction; the store keeps whole milliseconds, rounded up.
    if (!this.deps.store.useJti(`${state.id}:${jti}`, Math.ceil(exp * 1000) + 60_000))
      return refuse(
        new FlotillaError('TOKEN_REPLAYED', `assertion ${jti} was already used; sign a new one for each token request`),
      );
    if (state.status === 'disabled')
      return refuse(new FlotillaError('TARGET_DISABLED', `target ${state.id} is disabled`));
    const expiresAt = Math.floor(now / 1000) + this.accessTokenSeconds;
    const accessToken = await new SignJWT({ cnf: { kid: state.keyId } })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: trust.hubKeyId })
      .setIssuer(trust.audience)
      .setAudience(trust.audience)
      .setSubject(state.id)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(this.signingKey);
    // The hub just signed these claims: the token's first use needs no signature check.
    this.remember(accessToken, { targetId: state.id, keyId: state.keyId, expiresAt: expiresAt * 1000 }, now);
    return { accessToken, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  /**
   * The agent behind an access token. The first sight of a token costs one signature check;
   * after that it is a map lookup plus the live status and key of the target, so revocation
   * and key rotation take effect on the next request.
   */
  async authenticateAgent(token: string, caller?: CallerInfo): Promise<AgentPrincipal> {
    // Expired tokens are routine (an agent refreshes); a token the hub never issued, one bound
    // to a key the target no longer holds, or one of a revoked or disabled target is recorded.
    const { credentials } = this.deps;
    let cached = this.accessTokens.get(token);
    if (cached === undefined) {
      // Requests carrying a token not seen yet (an agent's stream and its first fetch, sent
      // together) share one signature check instead of each making its own.
      let pending = this.verifying.get(token);
      if (pending === undefined) {
        pending = this.verifyAccessToken(token);
        this.verifying.set(token, pending);
        void pending.then(() => this.verifying.delete(token));
      }
      const verified = await pending;
      if (verified instanceof FlotillaError) {
        if (verified.code === 'TOKEN_EXPIRED') throw verified;
        return this.refuseAccessToken(verified, claimedSubject(token), caller);
      }
      cached = verified;
    }
    const now = this.deps.clock();
    if (cached.expiresAt <= now) {
      this.accessTokens.delete(token);
      throw new FlotillaError('TOKEN_EXPIRED', 'the access token has expired; request a new one at POST /v1/token');
    }
    const state = credentials.get(cached.targetId);
    if (state === undefined)
      return this.refuseAccessToken(
        new FlotillaError('UNAUTHENTICATED', 'the access token names a target this hub does not know'),
        cached.targetId,
        caller,
      );
    // A revoked or disabled target's token that has not expired yet is still in the hands of
    // whoever holds the target's key: its use is refused and recorded like any other attempt.
    if (state.status === 'revoked')
      return this.refuseAccessToken(
        new FlotillaError('TARGET_REVOKED', `target ${state.id} is revoked`),
        cached.targetId,
        caller,
      );
    if (state.status === 'disabled')
      return this.refuseAccessToken(
        new FlotillaError('TARGET_DISABLED', `target ${state.id} is disabled`),
        cached.targetId,
        caller,
      );
    if (state.keyId !== cached.keyId)
      return this.refuseAccessToken(
        new FlotillaError('UNAUTHENTICATED', 'the access token is bound to a key this target no longer uses'),
        cached.targetId,
        caller,
      );
    return { kind: 'agent', targetId: cached.targetId };
  }

  /** Checks a token not in the cache with the hub's key and, when it holds, caches its claims. */
  private async verifyAccessToken(token: string): Promise<CachedAccessToken | FlotillaError> {
    const { trust } = this.deps;
    const now = this.deps.clock();
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.verifyKey, {
        algorithms: ['EdDSA'],
        issuer: trust.audience,
        audience: trust.audience,
        currentDate: new Date(now),
        typ: 'at+jwt',
      }));
    } catch (error) {
      return error instanceof joseErrors.JWTExpired
        ? new FlotillaError('TOKEN_EXPIRED', 'the access token has expired; request a new one at POST /v1/token')
        : new FlotillaError('UNAUTHENTICATED', 'the access token is not one this hub issued');
    } finally {
      this.metrics?.accessTokenVerified();
    }
    const cnf = payload['cnf'] as { kid?: unknown } | undefined;
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof cnf?.kid !== 'string')
      return new FlotillaError('UNAUTHENTICATED', 'the access token lacks its subject, expiry or key binding');
    return this.remember(token, { targetId: payload.sub, keyId: cnf.kid, expiresAt: payload.exp * 1000 }, now);
  }

  /** Caches a token's claims, verified or just signed, until it expires. */
  private remember(token: string, claims: CachedAccessToken, now: number): CachedAccessToken {
    if (this.accessTokens.size > 200_000) this.sweepAccessTokens(now);
    this.accessTokens.set(token, claims);
    return claims;
  }

  private refuseAccessToken(error: FlotillaError, claimed: string | undefined, caller: CallerInfo | undefined): never {
    if (caller !== undefined) {
      const id = claimedAgent(claimed);
      const known = id === 'unknown' ? undefined : this.deps.credentials.get(id);
      this.refusals.refused({
        actor: { kind: 'agent', id },
        action: 'auth.refused',
        subjects: known === undefined ? [] : [known.id],
        reason: error.code,
        remote: caller.remote,
        details: { credential: 'access-token', request: caller.request, message: error.message },
      });
    }
    throw error;
  }

  private sweepAccessTokens(now: number): void {
    for (const [token, entry] of this.accessTokens) if (entry.expiresAt <= now) this.accessTokens.delete(token);
  }

  /** The operator behind an API token: the operators feature checks it (revocation, expiry, scope). */
  authenticateOperator(token: string, caller?: CallerInfo): OperatorPrincipal {
    return this.deps.operators.authenticate(token, caller);
  }
}

function enrollmentTokenView(record: EnrollmentTokenRecord): EnrollmentToken {
  return {
    id: record.id,
    expiresAt: new Date(record.expiresAt).toISOString(),
    maxUses: record.maxUses,
    uses: record.uses,
    labels: record.labels,
    ...(record.description === null ? {} : { description: record.description }),
    ...(record.revokedAt === null ? {} : { revokedAt: new Date(record.revokedAt).toISOString() }),
  };
}

/** An actor id from what a caller claimed: a target id as given, anything else `unknown`. */
function claimedAgent(claimed: string | undefined): string {
  return claimed !== undefined && TargetId.safeParse(claimed).success ? claimed : 'unknown';
}

/** The `sub` a token claims, read without trusting it. */
function claimedSubject(token: string): string | undefined {
  try {
    const { sub } = decodeJwt(token);
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

function keyIdSafe(publicKey: string): string {
  try {
    return keyIdOf(publicKey);
  } catch {
    return 'invalid-key';
  }
}
