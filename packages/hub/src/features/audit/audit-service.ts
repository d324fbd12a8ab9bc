import { FlotillaError, type Actor } from '@flotilla/protocol';
import {
  AUDIT_MIN_RETENTION_MS,
  type AuditExportQuery,
  type AuditHistoryQuery,
  type AuditLatestCheckpoint,
  type AuditListQuery,
  type AuditPage,
  type AuditPruneRequest,
  type AuditPruneResult,
} from '@flotilla/protocol/api';
import type { AuditVerifyResult, SignedAuditCheckpoint } from '@flotilla/protocol/audit';
import type { Query } from '@flotilla/protocol/query';
import type { Clock } from '../../clock.ts';
import type { AuditQueryFilter } from './audit-filter.ts';
import type { AuditLog } from './audit-log.ts';

/** An `audit.export` entry names the exported targets as subjects up to this many. */
const EXPORT_SUBJECTS_AUDITED = 1000;
/** The most targets an export header may name (the format's limit). */
const EXPORT_TARGETS_MAX = 100_000;

/** Selects targets by fleet query (the targets feature). */
export interface AuditSelection {
  parse(text: string | undefined): Query | undefined;
  ids(query: Query | undefined): string[];
}

/** Tells an id never enrolled (a typo) from a target whose history is asked for (the targets feature). */
export interface KnownTargets {
  exists(id: string): boolean;
}

export interface AuditServiceDeps {
  readonly log: AuditLog;
  readonly fleet: AuditSelection;
  readonly targets: KnownTargets;
  readonly clock: Clock;
}

/** `targets` narrowed to `scope`: the scope itself when no targets were asked for. */
function within(targets: string[] | undefined, scope: ReadonlySet<string> | undefined): string[] | undefined {
  if (scope === undefined) return targets;
  return targets === undefined ? [...scope].sort() : targets.filter((id) => scope.has(id));
}

/** A page without the entries that name a target outside `scope`. */
function onlyWithin(page: AuditPage, scope: ReadonlySet<string> | undefined): AuditPage {
  if (scope === undefined) return page;
  return {
    ...page,
    entries: page.entries.filter((entry) => entry.subjects.length > 0 && entry.subjects.every((id) => scope.has(id))),
  };
}

type Narrowing = Pick<AuditListQuery, 'since' | 'until' | 'actor' | 'actorKind' | 'action' | 'outcome'>;

function narrowing(query: Narrowing): AuditQueryFilter {
  return {
    ...(query.since === undefined ? {} : { since: query.since }),
    ...(query.until === undefined ? {} : { until: query.until }),
    ...(query.actor === undefined && query.actorKind === undefined
      ? {}
      : {
          actor: {
            ...(query.actorKind === undefined ? {} : { kind: query.actorKind }),
            ...(query.actor === undefined ? {} : { id: query.actor }),
          },
        }),
    ...(query.action === undefined ? {} : { action: query.action }),
    ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
  };
}

/**
 * The audit trail as operators ask for it (docs/audit.md): pages of entries narrowed by time,
 * actor, action, outcome and target (or a fleet query), a target's history, the verifiable
 * export, checkpoints, verification and pruning. Each admin action is itself recorded.
 */
export class AuditService {
  private readonly deps: AuditServiceDeps;

  constructor(deps: AuditServiceDeps) {
    this.deps = deps;
  }

  /**
   * The targets a scoped token reaches, for {@link list}, {@link history} and
   * {@link exportLines}; undefined for an unscoped token.
   */
  scopeTargets(within: Query | undefined): ReadonlySet<string> | undefined {
    return within === undefined ? undefined : new Set(this.deps.fleet.ids(within));
  }

  /**
   * A page of entries. With `scope` (a scoped token's targets), only entries about targets
   * in the scope: each entry kept names at least one target and only targets in it; entries
   * about no target are hidden. A scoped page may hold fewer than `limit` entries.
   */
  list(params: AuditListQuery, scope?: ReadonlySet<string>): AuditPage {
    const targets = within(this.targetFilter(params.target, params.q), scope);
    const filter: AuditQueryFilter = { ...narrowing(params), ...(targets === undefined ? {} : { targets }) };
    return onlyWithin(
      this.deps.log.query(filter, {
        limit: params.limit,
        order: params.order,
        ...(params.cursor === undefined ? {} : { cursor: params.cursor }),
      }),
      scope,
    );
  }

  /** A target's history; a target is never deleted, so its history outlives revocation, while an id never enrolled is a typo. */
  history(targetId: string, params: AuditHistoryQuery, scope?: ReadonlySet<string>): AuditPage {
    if (!this.deps.targets.exists(targetId)) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    return onlyWithin(
      this.deps.log.query(
        { ...narrowing(params), targets: [targetId] },
        { limit: params.limit, order: params.order, ...(params.cursor === undefined ? {} : { cursor: params.cursor }) },
      ),
      scope,
    );
  }

  /**
   * The export's lines, recorded first as `audit.export` so the export carries the record of
   * itself. The first line signs the head checkpoint and writes the header. With `scope`,
   * only entries about targets in the scope (naming one, and none outside it) are carried in
   * full; the rest are elided to their hashes, as in any filtered export, so the chain still
   * verifies.
   */
  exportLines(params: AuditExportQuery, actor: Actor, scope?: ReadonlySet<string>): Generator<string, void, undefined> {
    const targets = within(this.targetFilter(params.target, params.q), scope);
    if (targets !== undefined && targets.length > EXPORT_TARGETS_MAX) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `the query selects ${targets.length} targets; a filtered export names at most ${EXPORT_TARGETS_MAX}. Narrow the query, or export without a filter`,
      );
    }
    const { log } = this.deps;
    log.append({
      actor,
      action: 'audit.export',
      subjects: targets !== undefined && targets.length <= EXPORT_SUBJECTS_AUDITED ? targets : [],
      outcome: 'success',
      details: {
        since: params.since ?? null,
        until: params.until ?? null,
        targets: targets?.length ?? null,
        ...(params.q === undefined ? {} : { query: params.q }),
      },
    });
    return log.exportLines({
      ...(params.since === undefined ? {} : { since: params.since }),
      ...(params.until === undefined ? {} : { until: params.until }),
      ...(targets === undefined ? {} : { targets }),
      ...(scope === undefined ? {} : { within: scope }),
    });
  }

  /** Signs the head now, recorded as `audit.checkpoint`. */
  checkpoint(actor: Actor): SignedAuditCheckpoint {
    this.deps.log.append({ actor, action: 'audit.checkpoint', subjects: [], outcome: 'success' });
    return this.deps.log.checkpoint();
  }

  /** The chain head and the newest signed checkpoint, for anyone who reads the trail. */
  latest(): AuditLatestCheckpoint {
    const latest = this.deps.log.latestCheckpoint();
    return { head: this.deps.log.head, checkpoint: latest?.checkpoint ?? null, reason: latest?.reason ?? null };
  }

  verify(): AuditVerifyResult {
    return this.deps.log.verify();
  }

  /** Prunes by age on the hub's clock, or before a time; never the last day. */
  prune(request: AuditPruneRequest, actor: Actor): AuditPruneResult {
    const { log, clock } = this.deps;
    const now = clock();
    const cutoff = request.before === undefined ? now - request.olderThanSeconds! * 1000 : Date.parse(request.before);
    if (cutoff > now - AUDIT_MIN_RETENTION_MS) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `a prune keeps at least the last day of the audit log; ${new Date(cutoff).toISOString()} is later than ${new Date(now - AUDIT_MIN_RETENTION_MS).toISOString()}`,
      );
    }
    const result = log.prune({ olderThan: cutoff, actor });
    return {
      removed: result.removed,
      olderThan: new Date(cutoff).toISOString(),
      anchor: result.anchor,
      head: log.head,
    };
  }

  /**
   * Target ids from `target` and `q` together: both given means entries naming a target in
   * both. A query is evaluated now (docs/query-language.md): "entries naming a target that
   * matches today", not "entries of targets that matched then".
   */
  private targetFilter(target: readonly string[] | undefined, q: string | undefined): string[] | undefined {
    if (q === undefined) return target === undefined ? undefined : [...new Set(target)];
    const { fleet } = this.deps;
    const selected = fleet.ids(fleet.parse(q));
    if (target === undefined) return selected;
    const wanted = new Set(target);
    return selected.filter((id) => wanted.has(id));
  }
}
