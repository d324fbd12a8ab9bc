import {
  CreateRolloutRequest,
  CreateRolloutResult,
  RolloutCommand,
  RolloutId,
  RolloutList,
  RolloutListQuery,
  RolloutView,
  RolloutViewQuery,
} from '@flotilla/protocol/api';
import { formatQuery, parseSelector } from '@flotilla/protocol/query';
import { requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readJson, readOptionalJson, readParam, readQuery } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { RolloutScope } from './rollout-scope.ts';
import type { RolloutService } from './rollout-service.ts';

export interface RolloutRoutesDeps {
  readonly auth: Authenticator;
  readonly rollouts: RolloutService;
  /** Narrows a scoped token's rollouts to targets in its scope. */
  readonly scope: TargetScope;
  /** Which rollouts a scoped token may read and steer. */
  readonly rolloutScope: RolloutScope;
}

/**
 * Rollouts (docs/rollouts.md): list and read (viewer), create and steer (deployer). Bad
 * plans are 400 with the path of the offending field; a selection overlapping another
 * running or paused rollout of the same release is 409 naming it and the targets.
 */
export function rolloutRoutes(router: Router, { auth, rollouts, scope, rolloutScope }: RolloutRoutesDeps): void {
  router.on('GET', '/v1/rollouts', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const { state, before, limit } = readQuery(query, RolloutListQuery);
    const list = rollouts.list(state, before, limit);
    const targets = rolloutScope.targets(principal);
    // A scoped token's page keeps only rollouts within its scope, so it may hold fewer than `limit`.
    const visible =
      targets === undefined
        ? list
        : { ...list, items: list.items.filter((item) => rolloutScope.coversId(targets, item.id)) };
    sendJson(res, 200, RolloutList, visible);
  });

  router.on('POST', '/v1/rollouts', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'deployer', { scoped: true });
    const request = await readJson(req, CreateRolloutRequest);
    const selector =
      principal.scope === undefined
        ? request.selector
        : scope.narrow(
            principal,
            typeof request.selector === 'string' ? request.selector : formatQuery(parseSelector(request.selector)),
          )!;
    const result = await rollouts.createInTurns({ ...request, selector }, actorOf(principal));
    sendJson(res, result.dryRun ? 200 : 201, CreateRolloutResult, result);
  });

  router.on('GET', '/v1/rollouts/:id', ({ req, res, params, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const id = readParam(params['id'], RolloutId, 'rollout id');
    rolloutScope.requireReadable(principal, id, req);
    const { members, limit } = readQuery(query, RolloutViewQuery);
    sendJson(res, 200, RolloutView, rollouts.view(id, members, limit));
  });

  for (const verb of ['pause', 'resume', 'abort', 'rollback'] as const) {
    router.on('POST', `/v1/rollouts/:id/${verb}`, async ({ req, res, params }) => {
      const principal = requireOperator(auth, req, 'deployer', { scoped: true });
      const id = readParam(params['id'], RolloutId, 'rollout id');
      rolloutScope.requireSteerable(principal, id, verb, req);
      const { reason } = await readOptionalJson(req, RolloutCommand);
      sendJson(res, 200, RolloutView, rollouts[verb](id, actorOf(principal), reason));
    });
  }
}
