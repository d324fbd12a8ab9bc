import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DriftClass, FlotillaError, TargetId, type Actor } from '@flotilla/protocol';
import { IncidentId, OpenIncidentRequest } from '../../services/drift/incidents.ts';
import { requireOperator } from '../auth.ts';
import { DEFAULT_BODY_LIMIT, parseWith, readBodyText, readJson, readOptionalJson } from '../body.ts';
import { sendJson } from '../respond.ts';
import type { Router } from '../router.ts';
import type { HubServices } from '../services.ts';

const Classes = z
  .string()
  .max(128)
  .transform((text) => text.split(',').map((part) => part.trim()).filter((part) => part !== ''))
  .pipe(z.array(DriftClass));

const DriftListQuery = z.strictObject({
  q: z.string().max(4096).optional(),
  class: Classes.optional(),
  intentional: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
});

const IncidentListQuery = z.strictObject({ state: z.enum(['open', 'closed', 'all']).default('open') });
const CloseIncident = z.strictObject({ reason: z.string().min(1).max(1024).optional() });
const RevertRequest = z.strictObject({ items: z.array(z.string().regex(/^[0-9a-f]{12}$/, 'a drift item id is 12 hex digits, as flotilla drift ls shows it')).min(1).max(1000) });

const YAML_TYPES = /^(application\/(x-)?yaml|text\/(x-)?yaml|application\/json)\s*(;|$)/i;

function actorOf(name: string): Actor {
  return { kind: 'user', id: name };
}

/**
 * A drift policy as written: JSON, or YAML (`application/yaml`, `text/yaml`), at most 1 MiB. What
 * it says is checked by `parseDriftPolicy` in the service.
 */
async function readPolicyBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!YAML_TYPES.test(type)) {
    throw new FlotillaError('UNSUPPORTED_MEDIA_TYPE', `a drift policy is sent as application/json or application/yaml, received ${type === '' ? 'no content type' : type}`);
  }
  const text = await readBodyText(req, DEFAULT_BODY_LIMIT, 'the drift policy');
  try {
    return /json/i.test(type) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new FlotillaError('BAD_REQUEST', `the drift policy does not parse: ${(error as Error).message.split('\n')[0]}`);
  }
}

/**
 * Drift (docs/drift.md): the drift policy (read: viewer; set and reset: admin), current drift
 * across the fleet and per target (viewer), revert requests (deployer), and incidents, whose
 * holds stop every revert on the targets they select (read: viewer; open and close: deployer).
 */
export function driftRoutes(router: Router, hub: HubServices): void {
  router.on('GET', '/v1/drift-policy', ({ req, res }) => {
    requireOperator(hub.identity, req, 'viewer');
    sendJson(res, 200, hub.drift.policy());
  });

  router.on('PUT', '/v1/drift-policy', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    const input = await readPolicyBody(req);
    sendJson(res, 200, hub.drift.setPolicy(input, actorOf(principal.name)));
  });

  router.on('DELETE', '/v1/drift-policy', ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    sendJson(res, 200, hub.drift.resetPolicy(actorOf(principal.name)));
  });

  router.on('GET', '/v1/drift', ({ req, res, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const { q, class: classes, intentional, limit } = parseWith(DriftListQuery, Object.fromEntries(query), 'query parameters');
    sendJson(res, 200, hub.drift.list({ query: q, classes, intentional, limit }));
  });

  router.on('GET', '/v1/targets/:id/drift', ({ req, res, params }) => {
    requireOperator(hub.identity, req, 'viewer');
    sendJson(res, 200, hub.drift.targetDrift(parseWith(TargetId, params['id'], 'target id')));
  });

  router.on('POST', '/v1/targets/:id/drift/revert', async ({ req, res, params }) => {
    const principal = requireOperator(hub.identity, req, 'deployer');
    const targetId = parseWith(TargetId, params['id'], 'target id');
    const { items } = await readJson(req, RevertRequest);
    sendJson(res, 200, hub.drift.requestRevert(targetId, items, actorOf(principal.name)));
  });

  router.on('GET', '/v1/incidents', ({ req, res, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const { state } = parseWith(IncidentListQuery, Object.fromEntries(query), 'query parameters');
    sendJson(res, 200, { items: hub.incidents.list(state === 'all' ? undefined : state) });
  });

  router.on('POST', '/v1/incidents', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'deployer');
    const request = await readJson(req, OpenIncidentRequest);
    sendJson(res, 201, hub.incidents.open(request, actorOf(principal.name)));
  });

  router.on('GET', '/v1/incidents/:id', ({ req, res, params }) => {
    requireOperator(hub.identity, req, 'viewer');
    sendJson(res, 200, hub.incidents.get(parseWith(IncidentId, params['id'], 'incident id')));
  });

  router.on('POST', '/v1/incidents/:id/close', async ({ req, res, params }) => {
    const principal = requireOperator(hub.identity, req, 'deployer');
    const id = parseWith(IncidentId, params['id'], 'incident id');
    const { reason } = await readOptionalJson(req, CloseIncident);
    sendJson(res, 200, hub.incidents.close(id, reason, actorOf(principal.name)));
  });
}
