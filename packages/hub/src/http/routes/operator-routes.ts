import { z } from 'zod';
import { FlotillaError, PublicKey, SignedBundle, TargetId, type Actor } from '@flotilla/protocol';
import { AssignRequest, CreateEnrollmentTokenRequest } from '@flotilla/protocol/api';
import { parseWith, readJson } from '../body.ts';
import { requireOperator } from '../auth.ts';
import { sendJson } from '../respond.ts';
import type { Router } from '../router.ts';
import type { HubServices } from '../services.ts';
import type { OperatorPrincipal } from '../../services/identity.ts';

const BUNDLE_BODY_LIMIT = 16 * 1024 * 1024;

const ListQuery = z.strictObject({
  q: z.string().max(4096).optional(),
  after: z.string().max(128).default(''),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const FacetQuery = z.strictObject({ q: z.string().max(4096).optional() });

const MetadataEdit = z.strictObject({
  set: z.record(z.string(), z.unknown()).default({}),
  remove: z.array(z.string()).max(256).default([]),
});

const StatusChange = z.strictObject({ reason: z.string().max(1024).optional() });
const AddReleaseKey = z.strictObject({ publicKey: PublicKey, name: z.string().min(1).max(128).optional() });

function actorOf(principal: OperatorPrincipal): Actor {
  return { kind: 'user', id: principal.name };
}

function targetIdParam(raw: string): string {
  return parseWith(TargetId, raw, 'target id');
}

/** The operator API: enrollment tokens, releases, assignment, targets, trust. */
export function operatorRoutes(router: Router, hub: HubServices): void {
  router.on('GET', '/v1/health', ({ res }) => {
    sendJson(res, 200, { ok: true, hubId: hub.trust.hubId, trustRootVersion: hub.trust.trustRoot.version });
  });

  router.on('POST', '/v1/enrollment-tokens', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    const request = await readJson(req, CreateEnrollmentTokenRequest);
    sendJson(res, 201, hub.identity.createEnrollmentToken(request, principal));
  });

  router.on('GET', '/v1/enrollment-tokens', ({ req, res }) => {
    requireOperator(hub.identity, req, 'admin');
    sendJson(res, 200, { items: hub.identity.enrollmentTokens() });
  });

  router.on('POST', '/v1/bundles', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'deployer');
    const signed = await readJson(req, SignedBundle, BUNDLE_BODY_LIMIT);
    const result = hub.bundles.publish(signed, principal);
    sendJson(res, result.created ? 201 : 200, result);
  });

  router.on('GET', '/v1/bundles', ({ req, res }) => {
    requireOperator(hub.identity, req, 'viewer');
    sendJson(res, 200, { items: hub.store.bundles().map((b) => ({ ...b, createdAt: new Date(b.createdAt).toISOString() })) });
  });

  router.on('GET', '/v1/targets', ({ req, res, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const { q, after, limit } = parseWith(ListQuery, Object.fromEntries(query), 'query parameters');
    sendJson(res, 200, hub.targets.list(q, after, limit));
  });

  // Before /v1/targets/:id, which would otherwise take 'facets' for an id.
  router.on('GET', '/v1/targets/facets', ({ req, res, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const { q } = parseWith(FacetQuery, Object.fromEntries(query), 'query parameters');
    sendJson(res, 200, hub.targets.fleet.facets(hub.targets.fleet.parse(q)));
  });

  router.on('GET', '/v1/targets/:id', ({ req, res, params }) => {
    requireOperator(hub.identity, req, 'viewer');
    sendJson(res, 200, hub.targets.get(targetIdParam(params['id']!)));
  });

  router.on('POST', '/v1/targets/:id/assign', async ({ req, res, params }) => {
    const principal = requireOperator(hub.identity, req, 'deployer');
    const targetId = targetIdParam(params['id']!);
    const { bundles } = await readJson(req, AssignRequest);
    sendJson(res, 200, hub.desired.assign(targetId, bundles, actorOf(principal)));
  });

  for (const kind of ['labels', 'properties'] as const) {
    router.on('PATCH', `/v1/targets/:id/${kind}`, async ({ req, res, params }) => {
      const principal = requireOperator(hub.identity, req, 'deployer');
      const targetId = targetIdParam(params['id']!);
      const { set, remove } = await readJson(req, MetadataEdit);
      sendJson(res, 200, hub.targets.editMetadata(targetId, kind, set, remove, actorOf(principal)));
    });
  }

  for (const [verb, status] of [['revoke', 'revoked'], ['disable', 'disabled'], ['enable', 'active']] as const) {
    router.on('POST', `/v1/targets/:id/${verb}`, async ({ req, res, params }) => {
      const principal = requireOperator(hub.identity, req, 'admin');
      const targetId = targetIdParam(params['id']!);
      const { reason } = await readJson(req, StatusChange);
      sendJson(res, 200, hub.targets.setStatus(targetId, status, actorOf(principal), reason));
    });
  }

  router.on('GET', '/v1/trust-root', ({ res }) => {
    sendJson(res, 200, hub.trust.signed);
  });

  router.on('POST', '/v1/trust-root/release-keys', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    const { publicKey, name } = await readJson(req, AddReleaseKey);
    const signed = hub.store.transaction(() => {
      const before = hub.trust.trustRoot.version;
      const next = hub.trust.addReleaseKey(publicKey, name);
      if (next.trustRoot.version !== before) {
        hub.audit.append({ actor: actorOf(principal), action: 'trust-root.add-release-key', subjects: [], outcome: 'success', details: { version: next.trustRoot.version, publicKey, name } });
      }
      return next;
    });
    sendJson(res, 200, signed);
  });

  router.on('POST', '/v1/targets', () => {
    throw new FlotillaError('METHOD_NOT_ALLOWED', 'targets are created by enrollment: create an enrollment token and start an agent with it');
  });
}
