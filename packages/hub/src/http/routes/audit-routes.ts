import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { FlotillaError, TargetId, type Actor } from '@flotilla/protocol';
import { AuditActionPattern } from '@flotilla/protocol/api';
import { AuditOutcome } from '@flotilla/protocol/audit';
import type { AuditExportOptions, AuditQueryFilter } from '../../services/audit/index.ts';
import { requireOperator } from '../auth.ts';
import { parseWith, readJson } from '../body.ts';
import { sendJson } from '../respond.ts';
import type { Router } from '../router.ts';
import type { HubServices } from '../services.ts';

const Time = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 time such as 2025-06-01T09:00:00Z' });
const TargetList = z.array(TargetId).min(1).max(1000);
const OutcomeList = z.array(AuditOutcome).min(1).max(3);
/** An `audit.export` entry names the exported targets as subjects up to this many. */
const EXPORT_SUBJECTS_AUDITED = 1000;
/** The most targets an export header may name (the format's limit). */
const EXPORT_TARGETS_MAX = 100_000;
/** A prune always keeps at least the last day: a typo must not empty the log. */
const MIN_RETENTION_MS = 86_400_000;
/** Export lines are sent in chunks of about this size rather than one write per line. */
const EXPORT_CHUNK = 64 * 1024;

function sinceBeforeUntil(value: { since?: string | undefined; until?: string | undefined }): boolean {
  return value.since === undefined || value.until === undefined || Date.parse(value.since) <= Date.parse(value.until);
}
const SINCE_BEFORE_UNTIL = { message: 'since must not be later than until', path: ['until'] };

const Narrowing = {
  since: Time.optional(),
  until: Time.optional(),
  actor: z.string().min(1).max(128).optional(),
  actorKind: z.enum(['user', 'agent', 'system']).optional(),
  action: AuditActionPattern.optional(),
  outcome: OutcomeList.optional(),
};
const Paging = {
  limit: z.coerce.number({ error: 'expected a whole number from 1 to 1000' }).int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(128).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
};

/** `GET /v1/audit`: every member narrows; `target` and `outcome` may repeat or be comma-separated. */
const ListQuery = z.strictObject({ ...Narrowing, ...Paging, target: TargetList.optional(), q: z.string().min(1).max(4096).optional() }).refine(sinceBeforeUntil, SINCE_BEFORE_UNTIL);
/** `GET /v1/targets/:id/history`: the same, for one target. */
const HistoryQuery = z.strictObject({ ...Narrowing, ...Paging }).refine(sinceBeforeUntil, SINCE_BEFORE_UNTIL);
/** `GET /v1/audit/export`: a time window, and the targets to carry in full. */
const ExportQuery = z.strictObject({ since: Time.optional(), until: Time.optional(), target: TargetList.optional(), q: z.string().min(1).max(4096).optional() }).refine(sinceBeforeUntil, SINCE_BEFORE_UNTIL);
/** `POST /v1/audit/prune`: by age on the hub's clock, or before a time; exactly one. */
const PruneRequest = z
  .strictObject({ olderThanSeconds: z.number().int().min(MIN_RETENTION_MS / 1000).optional(), before: Time.optional() })
  .refine((r) => (r.olderThanSeconds === undefined) !== (r.before === undefined), { message: 'give exactly one of olderThanSeconds and before' });

const LISTS = new Set(['target', 'outcome']);

/**
 * The query string as an object for zod: list parameters collected from repeats and commas,
 * any other parameter given twice left as an array, which its schema then refuses.
 */
function queryObject(query: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    if (LISTS.has(key)) out[key] = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
    else out[key] = values.length === 1 ? values[0] : values;
  }
  return out;
}

function actorOf(name: string): Actor {
  return { kind: 'user', id: name };
}

/**
 * The target ids a fleet query (`q`) selects now, evaluated by the hub's fleet query service
 * (docs/query-language.md): an audit filter by query is "entries naming a target that matches
 * today", not "entries of targets that matched then".
 */
function targetsOfQuery(hub: HubServices, q: string): string[] {
  const fleet = hub.targets.fleet;
  return fleet.ids(fleet.parse(q));
}

/** Target ids from `target` and `q` together: both given means entries naming a target in both. */
function targetFilter(hub: HubServices, target: readonly string[] | undefined, q: string | undefined): string[] | undefined {
  if (q === undefined) return target === undefined ? undefined : [...new Set(target)];
  const selected = targetsOfQuery(hub, q);
  if (target === undefined) return selected;
  const wanted = new Set(target);
  return selected.filter((id) => wanted.has(id));
}

function narrowing(query: { since?: string | undefined; until?: string | undefined; actor?: string | undefined; actorKind?: Actor['kind'] | undefined; action?: string | undefined; outcome?: AuditOutcome[] | undefined }): AuditQueryFilter {
  return {
    ...(query.since === undefined ? {} : { since: query.since }),
    ...(query.until === undefined ? {} : { until: query.until }),
    ...(query.actor === undefined && query.actorKind === undefined ? {} : { actor: { ...(query.actorKind === undefined ? {} : { kind: query.actorKind }), ...(query.actor === undefined ? {} : { id: query.actor }) } }),
    ...(query.action === undefined ? {} : { action: query.action }),
    ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
  };
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
export function auditRoutes(router: Router, hub: HubServices): void {
  router.on('GET', '/v1/audit', ({ req, res, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const params = parseWith(ListQuery, queryObject(query), 'query parameters');
    const targets = targetFilter(hub, params.target, params.q);
    const filter: AuditQueryFilter = { ...narrowing(params), ...(targets === undefined ? {} : { targets }) };
    sendJson(res, 200, hub.audit.query(filter, { limit: params.limit, order: params.order, ...(params.cursor === undefined ? {} : { cursor: params.cursor }) }));
  });

  router.on('GET', '/v1/targets/:id/history', ({ req, res, params, query }) => {
    requireOperator(hub.identity, req, 'viewer');
    const id = parseWith(TargetId, params['id'], 'target id');
    // A target is never deleted, so its history outlives revocation; an id never enrolled is a typo.
    if (hub.store.targetRow(id) === undefined) throw new FlotillaError('NOT_FOUND', `target ${id} does not exist`);
    const page = parseWith(HistoryQuery, queryObject(query), 'query parameters');
    sendJson(res, 200, hub.audit.query({ ...narrowing(page), targets: [id] }, { limit: page.limit, order: page.order, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) }));
  });

  router.on('GET', '/v1/audit/export', async ({ req, res, query }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    const params = parseWith(ExportQuery, queryObject(query), 'query parameters');
    const targets = targetFilter(hub, params.target, params.q);
    if (targets !== undefined && targets.length > EXPORT_TARGETS_MAX) {
      throw new FlotillaError('VALIDATION_FAILED', `the query selects ${targets.length} targets; a filtered export names at most ${EXPORT_TARGETS_MAX}. Narrow the query, or export without a filter`);
    }
    const options: AuditExportOptions = {
      ...(params.since === undefined ? {} : { since: params.since }),
      ...(params.until === undefined ? {} : { until: params.until }),
      ...(targets === undefined ? {} : { targets }),
    };
    // Recorded first, so the export carries the record of itself.
    hub.audit.append({
      actor: actorOf(principal.name),
      action: 'audit.export',
      subjects: targets !== undefined && targets.length <= EXPORT_SUBJECTS_AUDITED ? targets : [],
      outcome: 'success',
      details: { since: params.since ?? null, until: params.until ?? null, targets: targets?.length ?? null, ...(params.q === undefined ? {} : { query: params.q }) },
    });
    const lines = hub.audit.exportLines(options);
    // The first line signs the head checkpoint and writes the header: a failure there is
    // still an ordinary error answer; after it, a failure can only cut the stream short,
    // which a verifier reports as unsealed.
    const first = lines.next();
    if (first.done === true) throw new FlotillaError('INTERNAL', 'the audit export produced no header');
    const stamp = new Date(hub.clock()).toISOString().replace(/[:.]/g, '-');
    res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="flotilla-audit-${stamp}.jsonl"`,
      'cache-control': 'no-store',
    });
    try {
      await pipeline(Readable.from(chunked(first.value, lines)), res);
    } catch (error) {
      if (res.destroyed && (error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') {
        hub.log.info({ component: 'audit' }, 'audit export closed by the client before it ended');
        return;
      }
      throw error;
    }
  });

  router.on('POST', '/v1/audit/checkpoints', ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    hub.audit.append({ actor: actorOf(principal.name), action: 'audit.checkpoint', subjects: [], outcome: 'success' });
    sendJson(res, 201, hub.audit.checkpoint());
  });

  router.on('GET', '/v1/audit/verify', ({ req, res }) => {
    requireOperator(hub.identity, req, 'admin');
    sendJson(res, 200, hub.audit.verify());
  });

  router.on('POST', '/v1/audit/prune', async ({ req, res }) => {
    const principal = requireOperator(hub.identity, req, 'admin');
    const request = await readJson(req, PruneRequest);
    const now = hub.clock();
    const cutoff = request.before === undefined ? now - request.olderThanSeconds! * 1000 : Date.parse(request.before);
    if (cutoff > now - MIN_RETENTION_MS) {
      throw new FlotillaError('VALIDATION_FAILED', `a prune keeps at least the last day of the audit log; ${new Date(cutoff).toISOString()} is later than ${new Date(now - MIN_RETENTION_MS).toISOString()}`);
    }
    const result = hub.audit.prune({ olderThan: cutoff, actor: actorOf(principal.name) });
    sendJson(res, 200, { removed: result.removed, olderThan: new Date(cutoff).toISOString(), anchor: result.anchor, head: hub.audit.head });
  });
}
