import { z } from 'zod';
import type { Actor } from '@flotilla/protocol';
import { CreateRolloutRequest, RolloutId } from '../../services/rollouts/rollout-service.ts';
import { requireOperator } from '../auth.ts';
import { parseWith, readJson, readOptionalJson } from '../body.ts';
import { sendJson } from '../respond.ts';
import type { Router } from '../router.ts';
import type { HubServices } from '../services.ts';

const ListQuery = z.strictObject({
  state: z.enum(['running', 'paused', 'completed', 'aborted', 'rolled-back']).optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

const ViewQuery = z.strictObject({
  members: z.enum(['all', 'problems', 'none']).default('all'),
  limit: z.coerce.number().int().min(0).max(100_000).default(1000),
});

const Command = z.strictObject({ reason: z.string().min(1).max(1024).optional() });

/**
 * Rollouts (docs/rollouts.md): list and read (viewer), create and steer (deployer). Bad
 * plans are 400 with the path of the offending field; a selection overlapping another
 * running or paused rollout of the same release is 409 naming it and the targets.
 */
export function rolloutRoutes(router: Router, hub: HubServices): void {
  router.on('GET', '/v1/rollouts', ({ req, res, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const { state, before, limit } = parseWith(ListQuery, Object.fromEntries(query), 'query parameters');
    sendJson(res, 200, hub.rollouts.list(state, before, limit));
  });

  router.on('POST', '/v1/rollouts', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'deployer');
    const request = await readJson(req, CreateRolloutRequest);
    const result = hub.rollouts.create(request, actorOf(principal.name));
    sendJson(res, result.dryRun ? 200 : 201, result);
  });

  router.on('GET', '/v1/rollouts/:id', ({ req, res, params, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const id = parseWith(RolloutId, params['id'], 'rollout id');
    const { members, limit } = parseWith(ViewQuery, Object.fromEntries(query), 'query parameters');
    sendJson(res, 200, hub.rollouts.view(id, members, limit));
  });

  for (const verb of ['pause', 'resume', 'abort', 'rollback'] as const) {
    router.on('POST', `/v1/rollouts/:id/${verb}`, async ({ req, res, params }) => {
      const principal = requireOperator(hub.identity, req, 'deployer');
      const id = parseWith(RolloutId, params['id'], 'rollout id');
      const { reason } = await readOptionalJson(req, Command);
      sendJson(res, 200, hub.rollouts[verb](id, actorOf(principal.name), reason));
    });
  }
}

function actorOf(name: string): Actor {
  return { kind: 'user', id: name };
}
