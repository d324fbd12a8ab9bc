import { LastReport, ReportReceipt } from '@flotilla/protocol/api';
import { requireAgent, type Authenticator } from '../../http/auth.ts';
import { readJsonBytes } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { REPORT_BODY_LIMIT } from './report-body.ts';
import type { ReportService } from './report-service.ts';

export interface ReportRoutesDeps {
  readonly auth: Authenticator;
  readonly reports: ReportService;
}

/**
 * `POST /v1/targets/{id}/reports`: an agent's signed report about its own target;
 * `GET /v1/targets/{id}/reports/last`: what the hub last heard from it, for an agent catching up.
 */
export function reportRoutes(router: Router, { auth, reports }: ReportRoutesDeps): void {
  router.on('POST', '/v1/targets/:id/reports', async ({ req, res, params }) => {
    const targetId = params['id']!;
    await requireAgent(auth, req, targetId);
    // Parsed and verified by the report intake, off the event loop.
    const receipt = await reports.submit(targetId, await readJsonBytes(req, REPORT_BODY_LIMIT));
    sendJson(res, receipt.duplicate ? 200 : 201, ReportReceipt, receipt);
  });

  router.on('GET', '/v1/targets/:id/reports/last', async ({ req, res, params }) => {
    const targetId = params['id']!;
    await requireAgent(auth, req, targetId);
    sendJson(res, 200, LastReport, reports.last(targetId), { 'cache-control': 'no-store' });
  });
}
