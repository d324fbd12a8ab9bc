import { BUNDLE_MAX_BYTES, FlotillaError } from '@flotilla/protocol';
import { PublishRelease, PublishResult, ReleaseDetails, ReleaseList } from '@flotilla/protocol/api';
import { authenticate, callerOf, requireOperator, type Authenticator } from '../../http/auth.ts';
import { readJson } from '../../http/body.ts';
import { sendEmpty, sendJson, sendRawJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import type { BundleService } from './bundle-service.ts';

export interface BundleRoutesDeps {
  readonly auth: Authenticator;
  readonly bundles: BundleService;
}

/** Releases: publish with attestations (deployer), list and show (viewer), and fetch one by digest (its agents, or an operator). */
export function bundleRoutes(router: Router, { auth, bundles }: BundleRoutesDeps): void {
  router.on('GET', '/v1/bundles/:digest', async ({ req, res, params }) => {
    const digest = params['digest']!;
    const principal = await authenticate(auth, req);
    let json: string;
    try {
      json = bundles.json(digest, principal);
    } catch (error) {
      if (principal.kind === 'agent' && error instanceof FlotillaError && error.code === 'FORBIDDEN') {
        const caller = callerOf(req);
        auth.refused({
          actor: { kind: 'agent', id: principal.targetId },
          action: 'auth.refused',
          subjects: [principal.targetId],
          reason: error.code,
          remote: caller.remote,
          details: { credential: 'access-token', request: caller.request, message: error.message },
        });
      }
      throw error;
    }
    if (req.headers['if-none-match'] === `"${digest}"`) return sendEmpty(res, 304, { etag: `"${digest}"` });
    sendRawJson(res, 200, json, { etag: `"${digest}"`, 'cache-control': 'private, max-age=31536000, immutable' });
  });

  router.on('POST', '/v1/bundles', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'deployer');
    // The release and its attestations share the bundle limit, which agents' downloads are bounded by too.
    const request = await readJson(req, PublishRelease, BUNDLE_MAX_BYTES);
    const result = bundles.publish(request, principal);
    sendJson(res, result.created ? 201 : 200, PublishResult, result);
  });

  router.on('GET', '/v1/bundles/:digest/details', ({ req, res, params }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, ReleaseDetails, bundles.details(params['digest']!));
  });

  router.on('GET', '/v1/bundles', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, ReleaseList, bundles.list());
  });
}
