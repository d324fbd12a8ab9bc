import { Name } from '@flotilla/protocol';
import { formatQuery, parseQuery, parseSelector, type Query } from '@flotilla/protocol/query';
import {
  ApplyPolicyRequest,
  PolicyChangeResult,
  PolicyDiffQuery,
  ApprovalList,
  PolicyList,
  RecordApprovalRequest,
  RolloutId,
  PolicyPlan,
  PolicyPlanRequest,
  PolicyVersionQuery,
  PolicyView,
} from '@flotilla/protocol/api';
import { requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readJson, readParam, readQuery } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { ApprovalService } from './approval-service.ts';
import type { PolicyPlanner } from './policy-planner.ts';
import type { PolicyService } from './policy-service.ts';

export interface PolicyRoutesDeps {
  readonly auth: Authenticator;
  readonly policies: PolicyService;
  readonly planner: PolicyPlanner;
  readonly approvals: ApprovalService;
  readonly scope: TargetScope;
  /** Checks a selector's fields against the fleet's (a typo is an error, not an empty plan). */
  readonly selectors: { validate(query: Query, source: string | undefined): string[] };
}

/**
 * Policies (docs/policy.md): list, show and diff (viewer); apply and delete (admin, unscoped:
 * a policy's scope is the whole fleet's business). An invalid document is 400
 * `POLICY_INVALID` listing every problem with its path.
 */
export function policyRoutes(
  router: Router,
  { auth, policies, planner, approvals, scope, selectors }: PolicyRoutesDeps,
): void {
  router.on('GET', '/v1/policies', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, PolicyList, policies.list());
  });

  router.on('POST', '/v1/rollouts/plan', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const request = await readJson(req, PolicyPlanRequest);
    const given =
      request.selector === undefined
        ? undefined
        : typeof request.selector === 'string'
          ? request.selector
          : formatQuery(parseSelector(request.selector));
    let asked: Query | undefined;
    if (given !== undefined && given.trim() !== '') {
      asked = parseQuery(given);
      selectors.validate(asked, given);
    }
    const within = scope.within(principal);
    const selector: Query | undefined =
      within === undefined ? asked : asked === undefined ? within : { kind: 'and', items: [within, asked] };
    const { view } = planner.plan({
      release: request.release,
      selector,
      ...(request.place === undefined ? {} : { place: request.place }),
      author: actorOf(principal),
      limit: request.limit,
      audit: true,
    });
    sendJson(res, 200, PolicyPlan, view);
  });

  router.on('POST', '/v1/rollouts/:id/approvals', async ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'approver');
    const id = readParam(params['id'], RolloutId, 'rollout id');
    const { approval } = await readJson(req, RecordApprovalRequest);
    sendJson(res, 201, ApprovalList, approvals.record(id, approval, actorOf(principal)));
  });

  router.on('GET', '/v1/rollouts/:id/approvals', ({ req, res, params }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, ApprovalList, approvals.list(readParam(params['id'], RolloutId, 'rollout id')));
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
