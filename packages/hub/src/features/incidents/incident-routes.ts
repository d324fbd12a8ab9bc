import {
  CloseIncidentRequest,
  Incident,
  IncidentChange,
  IncidentId,
  IncidentList,
  IncidentListQuery,
  OpenIncidentRequest,
} from '@flotilla/protocol/api';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readJson, readOptionalJson, readParam, readQuery } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { IncidentService } from './incident-service.ts';

export interface IncidentRoutesDeps {
  readonly auth: Authenticator;
  readonly incidents: IncidentService;
}

/** Incidents, whose holds stop every revert on the targets they select: read (viewer), open and close (deployer). */
export function incidentRoutes(router: Router, { auth, incidents }: IncidentRoutesDeps): void {
  router.on('GET', '/v1/incidents', ({ req, res, query }) => {
    requireOperator(auth, req, 'viewer');
    const { state } = readQuery(query, IncidentListQuery);
    sendJson(res, 200, IncidentList, { items: incidents.list(state === 'all' ? undefined : state) });
  });

  router.on('POST', '/v1/incidents', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'deployer');
    const request = await readJson(req, OpenIncidentRequest);
    sendJson(res, 201, IncidentChange, incidents.open(request, actorOf(principal)));
  });

  router.on('GET', '/v1/incidents/:id', ({ req, res, params }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, Incident, incidents.get(readParam(params['id'], IncidentId, 'incident id')));
  });

  router.on('POST', '/v1/incidents/:id/close', async ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'deployer');
    const id = readParam(params['id'], IncidentId, 'incident id');
    const { reason } = await readOptionalJson(req, CloseIncidentRequest);
    sendJson(res, 200, IncidentChange, incidents.close(id, reason, actorOf(principal)));
  });
}
