import { SignedReport } from '@flotilla/protocol';
import { LastReport, ReportReceipt } from '@flotilla/protocol/api';
import { requireAgent, type Authenticator } from '../../http/auth.ts';
import { readJson } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import type { ReportService } from './report-service.ts';

const REPORT_BODY_LIMIT = 4 * 1024 * 1024;

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
    const signed = await readJson(req, SignedReport, REPORT_BODY_LIMIT);
    const receipt = await reports.submit(targetId, signed);
    sendJson(res, receipt.duplicate ? 200 : 201, ReportReceipt, receipt);
  });

  router.on('GET', '/v1/targets/:id/reports/last', async ({ req, res, params }) => {
    const targetId = params['id']!;
    await requireAgent(auth, req, targetId);
    sendJson(res, 200, LastReport, reports.last(targetId), { 'cache-control': 'no-store' });
  });
}
