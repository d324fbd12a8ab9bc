import { FlotillaError } from '@flotilla/protocol';
import { SignedPolicySet } from '@flotilla/protocol/policy';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readJson } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { PolicySetService } from './policy-set-service.ts';

/** A set of the most policies, each at its largest, fits. */
const POLICY_SET_BODY_LIMIT = 8 * 1024 * 1024;

export interface PolicySetRoutesDeps {
  readonly auth: Authenticator;
  readonly sets: PolicySetService;
}

/**
 * Signed policy sets (docs/policy.md): the draft of the next version and publishing a signed
 * one (admin, unscoped), the newest published set (viewer).
 */
export function policySetRoutes(router: Router, { auth, sets }: PolicySetRoutesDeps): void {
  router.on('GET', '/v1/policy-sets/draft', ({ req, res }) => {
    requireOperator(auth, req, 'admin');
    sendJson(res, 200, SignedPolicySet, sets.draft());
  });

  router.on('GET', '/v1/policy-sets/current', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    const current = sets.current();
    if (current === undefined)
      throw new FlotillaError('NOT_FOUND', 'no policy set has been published; see flotilla policy draft-set');
    sendJson(res, 200, SignedPolicySet, current);
  });

  router.on('POST', '/v1/policy-sets', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    const signed = await readJson(req, SignedPolicySet, POLICY_SET_BODY_LIMIT);
    sendJson(res, 200, SignedPolicySet, sets.publish(signed, actorOf(principal)));
  });
}
