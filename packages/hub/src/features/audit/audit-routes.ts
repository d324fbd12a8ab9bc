import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FlotillaError, TargetId } from '@flotilla/protocol';
import {
  AuditCheckpointRequest,
  AuditExportQuery,
  AuditHistoryQuery,
  AuditLatestCheckpoint,
  AuditListQuery,
  AuditPage,
  AuditPruneRequest,
  AuditPruneResult,
} from '@flotilla/protocol/api';
import { AuditVerifyResult, SignedAuditCheckpoint } from '@flotilla/protocol/audit';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import { requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readJson, readListQuery, readOptionalJson, readParam } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { AuditService } from './audit-service.ts';

/** Export lines are sent in chunks of about this size rather than one write per line. */
const EXPORT_CHUNK = 64 * 1024;
/** Query parameters that may repeat or be comma-separated. */
const LISTS = ['target', 'outcome'];

export interface AuditRoutesDeps {
  readonly auth: Authenticator;
  readonly audit: AuditService;
  readonly clock: Clock;
  readonly log: Logger;
  /** A scoped token's targets: its queries and exports read only entries about them. */
  readonly scope: Pick<TargetScope, 'within' | 'check'>;
}

/** Groups export lines into chunks of about {@link EXPORT_CHUNK} characters: one write per chunk, not per line. */
function* chunked(first: string, rest: Iterator<string, void, undefined>): Generator<string, void, undefined> {
  let buffer = first;
  for (let next = rest.next(); next.done !== true; next = rest.next()) {
    buffer += next.value;
    if (buffer.length >= EXPORT_CHUNK) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer !== '') yield buffer;
}

/**
 * The audit trail as an API: query (viewer), a target's history (viewer), export, checkpoint,
 * verify and prune (admin). Formats: docs/audit.md and docs/audit-format.md.
 */
export function auditRoutes(router: Router, { auth, audit, clock, log, scope }: AuditRoutesDeps): void {
  router.on('GET', '/v1/audit', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const params = readListQuery(query, AuditListQuery, LISTS);
    sendJson(res, 200, AuditPage, audit.list(params, audit.scopeTargets(scope.within(principal))));
  });

  router.on('GET', '/v1/targets/:id/history', ({ req, res, params, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const id = readParam(params['id'], TargetId, 'target id');
    scope.check(principal, id, req);
    const list = readListQuery(query, AuditHistoryQuery, LISTS);
    sendJson(res, 200, AuditPage, audit.history(id, list, audit.scopeTargets(scope.within(principal))));
  });

  router.on('GET', '/v1/audit/export', async ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'admin', { scoped: true });
    const lines = audit.exportLines(
      readListQuery(query, AuditExportQuery, LISTS),
      actorOf(principal),
      audit.scopeTargets(scope.within(principal)),
    );
    // The first line signs the head checkpoint and writes the header: a failure there is
    // still an ordinary error answer; after it, a failure can only cut the stream short,
    // which a verifier reports as unsealed.
    const first = lines.next();
    if (first.done === true) throw new FlotillaError('INTERNAL', 'the audit export produced no header');
    const stamp = new Date(clock()).toISOString().replace(/[:.]/g, '-');
    res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="flotilla-audit-${stamp}.jsonl"`,
      'cache-control': 'no-store',
    });
    try {
      await pipeline(Readable.from(chunked(first.value, lines)), res);
    } catch (error) {
      if (res.destroyed && (error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') {
        log.info({ component: 'audit' }, 'audit export closed by the client before it ended');
        return;
      }
      throw error;
    }
  });

  router.on('POST', '/v1/audit/checkpoints', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    await readOptionalJson(req, AuditCheckpointRequest);
    sendJson(res, 201, SignedAuditCheckpoint, audit.checkpoint(actorOf(principal)));
  });

  router.on('GET', '/v1/audit/checkpoints/latest', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, AuditLatestCheckpoint, audit.latest());
  });

  router.on('GET', '/v1/audit/verify', ({ req, res }) => {
    requireOperator(auth, req, 'admin');
    sendJson(res, 200, AuditVerifyResult, audit.verify());
  });

  router.on('POST', '/v1/audit/prune', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'admin');
    const request = await readJson(req, AuditPruneRequest);
    sendJson(res, 200, AuditPruneResult, audit.prune(request, actorOf(principal)));
  });
}
