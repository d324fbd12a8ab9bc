import { FlotillaError, Labels, Properties, type Actor, type Target, type TargetStatus } from '@flotilla/protocol';
import type { FacetCounts } from '@flotilla/protocol/api';
import type { Query } from '@flotilla/protocol/query';
import type { z } from 'zod';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { FleetQuery } from './fleet-query.ts';
import type { TargetCache } from './target-cache.ts';
import { decodeTargetCursor, encodeTargetCursor } from './target-cursor.ts';
import type { TargetStore } from './target-store.ts';

/**
 * What else must happen when a target's labels or properties changed: it may have come to
 * match (or stopped matching) an open incident's selector, so its holds are read again
 * (the incidents feature).
 */
export interface HoldRefresh {
  refreshTarget(targetId: string, actor: Actor): void;
}

/** Hears of a target's status change once it committed. */
export interface StatusListener {
  statusChanged(targetId: string, status: TargetStatus): void;
}

export interface TargetServiceDeps {
  readonly tx: Transactions;
  readonly store: TargetStore;
  readonly cache: TargetCache;
  readonly fleet: FleetQuery;
  readonly holds: HoldRefresh;
  /** Told after a status change commits: the stream feature closes a revoked or disabled target's stream. */
  readonly statusChanges?: StatusListener;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** Targets as records: reading them, the labels and properties operators set, and status changes. */
export class TargetService {
  private readonly deps: TargetServiceDeps;

  constructor(deps: TargetServiceDeps) {
    this.deps = deps;
  }

  get(id: string): Target {
    const target = this.deps.store.target(id);
    if (target === undefined) throw new FlotillaError('NOT_FOUND', `target ${id} does not exist`);
    return target;
  }

  /** Whether a target was ever enrolled: targets are never deleted, so their history outlives revocation. */
  exists(id: string): boolean {
    return this.deps.store.name(id) !== undefined;
  }

  /**
   * The targets a fleet query selects, in pages, as the JSON text of a `TargetPage`: the
   * documents go out as they are stored, never parsed (what a page cost most). Keyset
   * pagination by id: stable while targets enroll, and as cheap on page 1,000 as on page 1.
   * The first page fixes `now` for the query's relative times and its cursor carries it, so
   * every page of one listing answers the same query at the same instant.
   */
  list(text: string | undefined, cursor: string, limit: number, within?: Query): string {
    const { fleet, clock } = this.deps;
    const parsed = fleet.parseWithWarnings(text);
    const { warnings } = parsed;
    const query = both(within, parsed.query);
    const { after, now } = cursor === '' ? { after: '', now: clock() } : decodeTargetCursor(cursor, query);
    const { targets, total } = fleet.page(query, after, limit + 1, now);
    const items = targets.slice(0, limit);
    const last = items.at(-1);
    // The keys in TargetPage's order, as JSON.stringify of the page object wrote them.
    const next =
      targets.length > limit && last !== undefined
        ? `,"next":${JSON.stringify(encodeTargetCursor({ after: last.id, now }, query))}`
        : '';
    const warned = warnings.length === 0 ? '' : `,"warnings":${JSON.stringify(warnings)}`;
    return `{"items":[${items.map((item) => item.json).join(',')}],"total":${total}${next}${warned}}`;
  }

  /** Counts by status, health, drift, region, tier, Kubernetes version and running release. */
  facets(query: string | undefined, within?: Query): FacetCounts {
    return this.deps.fleet.facets(both(within, this.deps.fleet.parse(query)));
  }

  /**
   * Sets and removes operator labels or typed properties, checked whole after the change so
   * a bad key or value leaves the target untouched. Audited with what changed; the target's
   * incident holds are read again afterwards.
   */
  editMetadata(
    id: string,
    kind: 'labels' | 'properties',
    set: Record<string, unknown>,
    remove: readonly string[],
    actor: Actor,
  ): Target {
    const { tx, store, audit, clock } = this.deps;
    tx.run(() => {
      const current = this.get(id);
      const next: Record<string, unknown> = { ...current[kind], ...set };
      for (const key of remove) delete next[key];
      const schema: z.ZodType = kind === 'labels' ? Labels : Properties;
      const parsed = schema.safeParse(next);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new FlotillaError('VALIDATION_FAILED', `${kind}.${issue.path.join('.')}: ${issue.message}`);
      }
      const labels = kind === 'labels' ? (parsed.data as Labels) : current.labels;
      const properties = kind === 'properties' ? (parsed.data as Properties) : current.properties;
      store.setLabelsAndProperties(id, labels, properties, clock(), actor);
      const before = current[kind] as Record<string, unknown>;
      audit.append({
        actor,
        action: kind === 'labels' ? 'target.label' : 'target.set-property',
        subjects: [id],
        outcome: 'success',
        details: { set, removed: remove.filter((k) => k in before), before },
      });
    });
    this.deps.holds.refreshTarget(id, actor);
    return this.get(id);
  }

  setStatus(id: string, status: TargetStatus, actor: Actor, reason: string | undefined): Target {
    const { tx, store, audit, clock } = this.deps;
    tx.run(() => {
      const current = this.get(id);
      if (current.status === 'revoked' && status !== 'revoked')
        throw new FlotillaError(
          'CONFLICT',
          `target ${id} is revoked, which is final; enroll the agent again with a new key`,
        );
      store.setStatus(id, status, clock(), actor);
      audit.append({
        actor,
        action: `target.${status === 'active' ? 'enable' : status === 'disabled' ? 'disable' : 'revoke'}`,
        subjects: [id],
        outcome: 'success',
        ...(reason === undefined ? {} : { reason }),
        details: { from: current.status, to: status },
      });
    });
    this.deps.cache.invalidate(id);
    this.deps.statusChanges?.statusChanged(id, status);
    return this.get(id);
  }
}

/**
 * A query narrowed to `within` (a scoped token's scope, checked when the token was made, not
 * against the fleet's fields: a scope may name a field no target has yet).
 */
function both(within: Query | undefined, query: Query | undefined): Query | undefined {
  if (within === undefined) return query;
  return query === undefined ? within : { kind: 'and', items: [within, query] };
}
