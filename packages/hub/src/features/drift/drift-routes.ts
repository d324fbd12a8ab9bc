import type { IncomingMessage } from 'node:http';
import { Digest, FlotillaError, isFlotillaError, messageOf, parseJson, parseYaml, TargetId } from '@flotilla/protocol';
import {
  DriftList,
  DriftListQuery,
  DriftPolicyChange,
  DriftPolicyState,
  RevertRequest,
  RevertResult,
  TargetDriftView,
} from '@flotilla/protocol/api';
import { authenticate, requireOperator, type Authenticator } from '../../http/auth.ts';
import { assertUtf8, DEFAULT_BODY_LIMIT, readBodyText, readJson, readParam, readQuery } from '../../http/body.ts';
import { sendEmpty, sendJson, sendRawJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { DriftService } from './drift-service.ts';

const YAML_TYPES = /^(application\/(x-)?yaml|text\/(x-)?yaml|application\/json)\s*(;|$)/i;

export interface DriftRoutesDeps {
  readonly auth: Authenticator;
  readonly drift: DriftService;
}

/**
 * A drift policy as written: JSON, or YAML (`application/yaml`, `text/yaml`), at most 1 MiB. What
 * it says is checked by `parseDriftPolicy` in the service.
 */
async function readPolicyBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!YAML_TYPES.test(type)) {
    throw new FlotillaError(
      'UNSUPPORTED_MEDIA_TYPE',
      `a drift policy is sent as application/json or application/yaml, received ${type === '' ? 'no content type' : type}`,
    );
  }
  assertUtf8(type);
  const text = await readBodyText(req, DEFAULT_BODY_LIMIT, 'the drift policy');
  try {
    return /json/i.test(type) ? parseJson(text, 'the drift policy') : parseYaml(text, 'the drift policy');
  } catch (error) {
    if (!isFlotillaError(error, 'BAD_REQUEST')) throw error;
    throw new FlotillaError('BAD_REQUEST', messageOf(error).split('\n')[0] ?? 'the drift policy does not parse');
  }
}

/**
 * Drift (docs/drift.md): the drift policy (read: viewer; set and reset: admin), each policy an
 * envelope names by digest (any agent, or any operator), current drift across the fleet and per
 * target (viewer), and revert requests (deployer).
 */
export function driftRoutes(router: Router, { auth, drift }: DriftRoutesDeps): void {
  // Fleet-wide and not secret, as every envelope carried it whole before: any enrolled agent may
  // read any policy, so none needs to be looked up against the caller's envelope.
  router.on('GET', '/v1/drift-policies/:digest', async ({ req, res, params }) => {
    await authenticate(auth, req);
    const digest = readParam(params['digest'], Digest, 'drift policy digest');
    const etag = `"${digest}"`;
    const json = drift.policyJson(digest);
    if (req.headers['if-none-match'] === etag) return sendEmpty(res, 304, { etag });
    sendRawJson(res, 200, json, { etag, 'cache-control': 'private, max-age=31536000, immutable' });
  });

  router.on('GET', '/v1/drift-policy', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, DriftPolicyState, drift.policy());
  });

  router.on('PUT', '/v1/drift-policy', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    const input = await readPolicyBody(req);
    sendJson(res, 200, DriftPolicyChange, drift.setPolicy(input, actorOf(principal)));
  });

  router.on('DELETE', '/v1/drift-policy', ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    sendJson(res, 200, DriftPolicyChange, drift.resetPolicy(actorOf(principal)));
  });

  router.on('GET', '/v1/drift', ({ req, res, query }) => {
    requireOperator(auth, req, 'viewer');
    const { q, class: classes, intentional, limit } = readQuery(query, DriftListQuery);
    sendJson(res, 200, DriftList, drift.list({ query: q, classes, intentional, limit }));
  });

  router.on('GET', '/v1/targets/:id/drift', ({ req, res, params }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, TargetDriftView, drift.targetDrift(readParam(params['id'], TargetId, 'target id')));
  });

  router.on('POST', '/v1/targets/:id/drift/revert', async ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'deployer');
    const targetId = readParam(params['id'], TargetId, 'target id');
    const { items } = await readJson(req, RevertRequest);
    sendJson(res, 200, RevertResult, drift.requestRevert(targetId, items, actorOf(principal)));
  });
}
