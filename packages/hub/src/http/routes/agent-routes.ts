import { FlotillaError, SignedReport } from '@flotilla/protocol';
import { EnrollRequest, TokenRequest } from '@flotilla/protocol/api';
import { readJson } from '../body.ts';
import { authenticate, requireAgent } from '../auth.ts';
import { sendEmpty, sendJson, sendRawJson } from '../respond.ts';
import type { Router } from '../router.ts';
import type { HubServices } from '../services.ts';

function waitSeconds(raw: string | null, max: number): number {
  if (raw === null) return 0;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new FlotillaError('VALIDATION_FAILED', `wait must be a whole number of seconds from 0 to ${max}, received '${raw}'`);
  }
  return value;
}

/** The routes agents call: enrollment, tokens, desired state, bundles, reports. */
export function agentRoutes(router: Router, hub: HubServices): void {
  router.on('GET', '/v1/targets/:id/envelope', async ({ req, res, params, query }) => {
    const targetId = params['id']!;
    await requireAgent(hub.identity, req, targetId);
    hub.seen.mark(targetId);
    const wait = waitSeconds(query.get('wait'), hub.maxWaitSeconds);
    const known = req.headers['if-none-match'];
    const answer = (): void => {
      const state = hub.desired.current(targetId);
      if (state === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
      if (known === state.etag) return sendEmpty(res, 304, { etag: state.etag });
      if (state.envelopeJson === undefined) return sendEmpty(res, 204, { etag: state.etag });
      sendRawJson(res, 200, state.envelopeJson, { etag: state.etag, 'cache-control': 'no-cache' });
    };
    const state = hub.desired.current(targetId);
    if (wait === 0 || state === undefined || known !== state.etag) return answer();
    await new Promise<void>((resolve) => {
      const cancel = hub.desired.waitForChange(targetId, wait * 1000, resolve);
      res.once('close', () => {
        cancel();
        resolve();
      });
    });
    if (!res.writableEnded && !res.destroyed) answer();
  });

  router.on('POST', '/v1/enroll', async ({ req, res, remote }) => {
    const request = await readJson(req, EnrollRequest);
    sendJson(res, 201, hub.identity.enroll(request, remote));
  });

  router.on('POST', '/v1/token', async ({ req, res, remote }) => {
    const { assertion } = await readJson(req, TokenRequest);
    sendJson(res, 200, await hub.identity.issueAccessToken(assertion, remote));
  });

  router.on('GET', '/v1/trust-roots/:version', ({ res, params }) => {
    const version = Number(params['version']);
    const signed = Number.isInteger(version) ? hub.trust.version(version) : undefined;
    if (signed === undefined) throw new FlotillaError('NOT_FOUND', `trust root version ${params['version']} does not exist; the latest is ${hub.trust.trustRoot.version}`);
    sendJson(res, 200, signed, { 'cache-control': 'public, max-age=31536000, immutable' });
  });

  router.on('GET', '/v1/bundles/:digest', async ({ req, res, params }) => {
    const digest = params['digest']!;
    const principal = await authenticate(hub.identity, req);
    if (principal.kind === 'agent') {
      const desired = hub.targets.desiredDigests(principal.targetId);
      if (!desired.has(digest)) throw new FlotillaError('FORBIDDEN', `bundle ${digest} is not in the desired state of target ${principal.targetId}`);
    }
    const json = hub.bundles.json(digest);
    if (json === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${digest}`);
    if (req.headers['if-none-match'] === `"${digest}"`) return sendEmpty(res, 304, { etag: `"${digest}"` });
    sendRawJson(res, 200, json, { etag: `"${digest}"`, 'cache-control': 'private, max-age=31536000, immutable' });
  });

  router.on('POST', '/v1/targets/:id/reports', async ({ req, res, params }) => {
    const targetId = params['id']!;
    await requireAgent(hub.identity, req, targetId);
    const signed = await readJson(req, SignedReport, 4 * 1024 * 1024);
    const receipt = hub.reports.accept(targetId, signed);
    sendJson(res, receipt.duplicate ? 200 : 201, receipt);
  });
}
