import { FlotillaError, Target, TargetId } from '@flotilla/protocol';
import { FacetCounts, FacetQuery, MetadataEdit, StatusChange, TargetListQuery } from '@flotilla/protocol/api';
import { requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readJson, readParam, readQuery } from '../../http/body.ts';
import { sendJson, sendRawJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { TargetService } from './target-service.ts';

export interface TargetRoutesDeps {
  readonly auth: Authenticator;
  readonly targets: TargetService;
  readonly scope: TargetScope;
}

/**
 * Targets as records (docs/api.md): list, facets and read (viewer), labels and properties
 * (deployer), status (admin). A scoped token lists, reads and edits only targets in its scope.
 */
export function targetRoutes(router: Router, { auth, targets, scope }: TargetRoutesDeps): void {
  router.on('GET', '/v1/targets', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const { q, after, limit } = readQuery(query, TargetListQuery);
    sendRawJson(res, 200, targets.list(q, after, limit, scope.within(principal)));
  });

  // Before /v1/targets/:id, which would otherwise take 'facets' for an id.
  router.on('GET', '/v1/targets/facets', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const { q } = readQuery(query, FacetQuery);
    sendJson(res, 200, FacetCounts, targets.facets(q, scope.within(principal)));
  });

  router.on('GET', '/v1/targets/:id', ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const targetId = readParam(params['id'], TargetId, 'target id');
    scope.check(principal, targetId, req);
    sendJson(res, 200, Target, targets.get(targetId));
  });

  for (const kind of ['labels', 'properties'] as const) {
    router.on('PATCH', `/v1/targets/:id/${kind}`, async ({ req, res, params }) => {
      const principal = requireOperator(auth, req, 'deployer', { scoped: true });
      const targetId = readParam(params['id'], TargetId, 'target id');
      scope.check(principal, targetId, req);
      const { set, remove } = await readJson(req, MetadataEdit);
      sendJson(res, 200, Target, targets.editMetadata(targetId, kind, set, remove, actorOf(principal)));
    });
  }

  for (const [verb, status] of [
    ['revoke', 'revoked'],
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    router.on('POST', `/v1/targets/:id/${verb}`, async ({ req, res, params }) => {
      const principal = requireOperator(auth, req, 'admin');
      const targetId = readParam(params['id'], TargetId, 'target id');
      const { reason } = await readJson(req, StatusChange);
      sendJson(res, 200, Target, targets.setStatus(targetId, status, actorOf(principal), reason));
    });
  }

  router.on('POST', '/v1/targets', () => {
    throw new FlotillaError(
      'METHOD_NOT_ALLOWED',
      'targets are created by enrollment: create an enrollment token and start an agent with it',
    );
  });
}
