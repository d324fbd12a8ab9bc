import { ApiToken, ApiTokenList, CreateApiTokenRequest, CreatedApiToken } from '@flotilla/protocol/api';
import { z } from 'zod';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readJson, readParam } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { OperatorTokenService } from './operator-token-service.ts';

export interface OperatorTokenRoutesDeps {
  readonly auth: Authenticator;
  readonly operators: OperatorTokenService;
}

const TokenRef = z.string().min(1).max(64);

/** Operators' API tokens (docs/security.md): create, list and revoke, by unscoped admins only. */
export function operatorTokenRoutes(router: Router, { auth, operators }: OperatorTokenRoutesDeps): void {
  router.on('POST', '/v1/tokens', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    const request = await readJson(req, CreateApiTokenRequest);
    sendJson(res, 201, CreatedApiToken, operators.create(request, actorOf(principal)));
  });

  router.on('GET', '/v1/tokens', ({ req, res }) => {
    requireOperator(auth, req, 'admin');
    sendJson(res, 200, ApiTokenList, operators.list());
  });

  router.on('DELETE', '/v1/tokens/:ref', ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'admin');
    const ref = readParam(params['ref'], TokenRef, 'token id or name');
    sendJson(res, 200, ApiToken, operators.revoke(ref, actorOf(principal)));
  });
}
