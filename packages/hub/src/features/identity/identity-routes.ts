import { FlotillaError, SignedTrustRoot, TargetId, TRUST_ROOT_MAX_BYTES } from '@flotilla/protocol';
import {
  AddApproverKeyRequest,
  AddAttestationKeyRequest,
  AddReleaseKeyRequest,
  CreateEnrollmentTokenRequest,
  EnrollmentToken,
  EnrollmentTokenList,
  EnrollRequest,
  EnrollResponse,
  HubHealth,
  HubReadiness,
  KeyRotationRequest,
  KeyRotationResponse,
  TokenRequest,
  TokenResponse,
} from '@flotilla/protocol/api';
import { requireOperator } from '../../http/auth.ts';
import { readJson, readParam } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { IdentityService } from './identity-service.ts';
import type { StoreState } from '../../store/store-health.ts';
import type { KeyRotationService } from './key-rotation-service.ts';
import type { TrustService } from './trust-service.ts';

/** Whether the hub's store can write now (the store's health). */
export interface StoreReadiness {
  readonly state: StoreState;
  readonly retryAfterSeconds: number;
}

export interface IdentityRoutesDeps {
  readonly identity: IdentityService;
  readonly trust: TrustService;
  readonly store: StoreReadiness;
  readonly rotation: KeyRotationService;
}

/**
 * Who may talk to the hub (docs/security.md): enrollment and access tokens for agents,
 * enrollment tokens (admin), the hub's health and trust root, and the release keys in it (admin).
 */
export function identityRoutes(router: Router, { identity, trust, store, rotation }: IdentityRoutesDeps): void {
  router.on('POST', '/v1/enroll', async ({ req, res, remote }) => {
    const request = await readJson(req, EnrollRequest);
    sendJson(res, 201, EnrollResponse, await identity.submitEnrollment(request, remote));
  });

  router.on('POST', '/v1/token', async ({ req, res, remote }) => {
    const { assertion } = await readJson(req, TokenRequest);
    sendJson(res, 200, TokenResponse, await identity.issueAccessToken(assertion, remote));
  });

  // No access token: the signature of the target's current key authenticates the request, so an
  // agent whose rotation went through but whose answer was lost can still finish it.
  router.on('POST', '/v1/targets/:id/key-rotation', async ({ req, res, params, remote }) => {
    const targetId = readParam(params['id'], TargetId, 'target id');
    const request = await readJson(req, KeyRotationRequest);
    sendJson(res, 200, KeyRotationResponse, rotation.rotate(targetId, request, remote));
  });

  router.on('GET', '/v1/trust-roots/:version', ({ res, params }) => {
    const version = Number(params['version']);
    const signed = Number.isInteger(version) ? trust.version(version) : undefined;
    if (signed === undefined)
      throw new FlotillaError(
        'NOT_FOUND',
        `trust root version ${params['version']} does not exist; the latest is ${trust.trustRoot.version}`,
      );
    sendJson(res, 200, SignedTrustRoot, signed, { 'cache-control': 'public, max-age=31536000, immutable' });
  });

  // Liveness: the process answers; from memory, so a store that stalls cannot slow it.
  router.on('GET', '/v1/health', ({ res }) => {
    sendJson(res, 200, HubHealth, { ok: true, hubId: trust.hubId, trustRootVersion: trust.trustRoot.version });
  });

  router.on('GET', '/v1/ready', ({ res }) => {
    const state = store.state;
    if (state.writable) {
      sendJson(res, 200, HubReadiness, { ready: true, store: { writable: true } });
      return;
    }
    sendJson(
      res,
      503,
      HubReadiness,
      {
        ready: false,
        store: {
          writable: false,
          code: state.code,
          message: state.message,
          since: new Date(state.since).toISOString(),
        },
      },
      { 'retry-after': String(store.retryAfterSeconds), 'cache-control': 'no-store' },
    );
  });

  router.on('POST', '/v1/enrollment-tokens', async ({ req, res }) => {
    const principal = requireOperator(identity, req, 'admin');
    const request = await readJson(req, CreateEnrollmentTokenRequest);
    sendJson(res, 201, EnrollmentToken, identity.createEnrollmentToken(request, principal));
  });

  router.on('GET', '/v1/enrollment-tokens', ({ req, res }) => {
    requireOperator(identity, req, 'admin');
    sendJson(res, 200, EnrollmentTokenList, { items: identity.enrollmentTokens() });
  });

  router.on('POST', '/v1/enrollment-tokens/:id/revoke', ({ req, res, params }) => {
    const principal = requireOperator(identity, req, 'admin');
    sendJson(res, 200, EnrollmentToken, identity.revokeEnrollmentToken(params['id']!, principal));
  });

  router.on('GET', '/v1/trust-root', ({ res }) => {
    sendJson(res, 200, SignedTrustRoot, trust.signed);
  });

  router.on('POST', '/v1/trust-root', async ({ req, res }) => {
    const principal = requireOperator(identity, req, 'admin');
    const signed = await readJson(req, SignedTrustRoot, TRUST_ROOT_MAX_BYTES);
    sendJson(res, 200, SignedTrustRoot, trust.publish(signed, actorOf(principal)));
  });

  router.on('POST', '/v1/trust-root/release-keys', async ({ req, res }) => {
    const principal = requireOperator(identity, req, 'admin');
    const { publicKey, name } = await readJson(req, AddReleaseKeyRequest);
    sendJson(res, 200, SignedTrustRoot, trust.addReleaseKey(publicKey, name, actorOf(principal)));
  });

  router.on('POST', '/v1/trust-root/approver-keys', async ({ req, res }) => {
    const principal = requireOperator(identity, req, 'admin');
    const { publicKey, identity: owner } = await readJson(req, AddApproverKeyRequest);
    sendJson(res, 200, SignedTrustRoot, trust.addApproverKey(publicKey, owner, actorOf(principal)));
  });

  router.on('POST', '/v1/trust-root/attestation-keys', async ({ req, res }) => {
    const principal = requireOperator(identity, req, 'admin');
    const { publicKey, name } = await readJson(req, AddAttestationKeyRequest);
    sendJson(res, 200, SignedTrustRoot, trust.addAttestationKey(publicKey, name, actorOf(principal)));
  });
}
