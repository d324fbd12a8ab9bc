import { ApprovalStatus, RolloutId } from '@flotilla/protocol/api';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readParam } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { approvalStatus, type ApprovalStatusDeps } from './approval-status.ts';

export interface ApprovalStatusRoutesDeps extends ApprovalStatusDeps {
  readonly auth: Authenticator;
}

/** `GET /v1/rollouts/{id}/approval-status` (viewer): what a rollout waits for by way of approvals. */
export function approvalStatusRoutes(router: Router, { auth, ...deps }: ApprovalStatusRoutesDeps): void {
  router.on('GET', '/v1/rollouts/:id/approval-status', ({ req, res, params }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, ApprovalStatus, approvalStatus(deps, readParam(params['id'], RolloutId, 'rollout id')));
  });
}
