import { Name } from '@flotilla/protocol';
import {
  ApplyPolicyRequest,
  PolicyChangeResult,
  PolicyDiffQuery,
  PolicyList,
  PolicyVersionQuery,
  PolicyView,
} from '@flotilla/protocol/api';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readJson, readParam, readQuery } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { PolicyService } from './policy-service.ts';

export interface PolicyRoutesDeps {
  readonly auth: Authenticator;
  readonly policies: PolicyService;
}

/**
 * Policies (docs/policy.md): list, show and diff (viewer); apply and delete (admin, unscoped:
 * a policy's scope is the whole fleet's business). An invalid document is 400
 * `POLICY_INVALID` listing every problem with its path.
 */
export function policyRoutes(router: Router, { auth, policies }: PolicyRoutesDeps): void {
  router.on('GET', '/v1/policies', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, PolicyList, policies.list());
  });

  router.on('POST', '/v1/policies', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    const { document } = await readJson(req, ApplyPolicyRequest);
    const result = policies.apply(document, actorOf(principal));
    sendJson(res, result.changed && result.from === null ? 201 : 200, PolicyChangeResult, result);
  });

  router.on('POST', '/v1/policies/diff', async ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    const { document } = await readJson(req, ApplyPolicyRequest);
    sendJson(res, 200, PolicyChangeResult, policies.diff(document));
  });

  router.on('GET', '/v1/policies/:name', ({ req, res, params, query }) => {
    requireOperator(auth, req, 'viewer');
    const name = readParam(params['name'], Name, 'policy name');
    const { version } = readQuery(query, PolicyVersionQuery);
    sendJson(res, 200, PolicyView, policies.view(name, version));
  });

  router.on('GET', '/v1/policies/:name/diff', ({ req, res, params, query }) => {
    requireOperator(auth, req, 'viewer');
    const name = readParam(params['name'], Name, 'policy name');
    const { from, to } = readQuery(query, PolicyDiffQuery);
    sendJson(res, 200, PolicyChangeResult, policies.diffVersions(name, from, to));
  });

  router.on('DELETE', '/v1/policies/:name', ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'admin');
    const name = readParam(params['name'], Name, 'policy name');
    sendJson(res, 200, PolicyChangeResult, policies.delete(name, actorOf(principal)));
  });
}
