import { FlotillaError, Labels, Properties, type Actor, type SignedEnvelope, type Target, type TargetStatus } from '@flotilla/protocol';
import type { z } from 'zod';
import { targetFromRow, type HubStore } from '../store/hub-store.ts';
import type { AuditSink } from './audit-sink.ts';
import type { Clock } from './clock.ts';
import type { TargetCache } from './target-cache.ts';
import type { FleetQuery } from './fleet-query.ts';
import { decodeTargetCursor, encodeTargetCursor } from './target-cursor.ts';

export interface TargetPage {
  readonly items: Target[];
  readonly total: number;
  /** Pass as `after` for the next page; absent on the last page. Opaque: it also fixes `now` for the query's relative times. */
  readonly next?: string;
  /** Negated conditions on fields no target has that look like typos; absent when there are none. */
  readonly warnings?: string[];
}

/** Targets as records: reading them, and the status changes operators make. */
export class TargetService {
  private readonly store: HubStore;
  private readonly cache: TargetCache;
  private readonly audit: AuditSink;
  private readonly clock: Clock;
  readonly fleet: FleetQuery;
  /** Called after a target's labels or properties changed: the hub re-evaluates incident holds for it. */
  afterMetadataEdit: ((id: string, actor: Actor) => void) | undefined;

  constructor(
    store: HubStore,
    cache: TargetCache,
    audit: AuditSink,
    clock: Clock,
    fleet: FleetQuery,
  ) {
    this.store = store;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
    this.fleet = fleet;
  }

  get(id: string): Target {
    const row = this.store.targetRow(id);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${id} does not exist`);
    return targetFromRow(row);
  }

  /**
   * The targets a fleet query selects, in pages. Keyset pagination by id: stable while
   * targets enroll, and as cheap on page 1,000 as on page 1. The first page fixes `now` for
   * the query's relative times and its cursor carries it, so every page of one listing
   * answers the same query at the same instant.
   */
  list(text: string | undefined, cursor: string, limit: number): TargetPage {
    const { query, warnings } = this.fleet.parseWithWarnings(text);
    const { after, now } = cursor === '' ? { after: '', now: this.clock() } : decodeTargetCursor(cursor, query);
    const { rows, total } = this.fleet.page(query, after, limit + 1, now);
    const items = rows.slice(0, limit).map(targetFromRow);
    const last = items.at(-1);
    return {
      items,
      total,
      ...(rows.length > limit && last !== undefined ? { next: encodeTargetCursor({ after: last.id, now }, query) } : {}),
      ...(warnings.length === 0 ? {} : { warnings }),
    };
  }

  /**
   * Sets and removes operator labels or typed properties, checked whole after the change so
   * a bad key or value leaves the target untouched. Audited with what changed.
   */
  editMetadata(id: string, kind: 'labels' | 'properties', set: Record<string, unknown>, remove: readonly string[], actor: Actor): Target {
    this.store.transaction(() => {
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
      this.store.setLabelsAndProperties(id, labels, properties, this.clock(), actor);
      const before = current[kind] as Record<string, unknown>;
      this.audit.append({
        actor,
        action: kind === 'labels' ? 'target.label' : 'target.set-property',
        subjects: [id],
        outcome: 'success',
        details: { set, removed: remove.filter((k) => k in before), before },
      });
    });
    this.afterMetadataEdit?.(id, actor);
    return this.get(id);
  }

  /** The digests in the target's current envelope: the only bundles its agent may fetch. */
  desiredDigests(id: string): Set<string> {
    const json = this.cache.get(id)?.envelopeJson;
    if (json === undefined) return new Set();
    return new Set((JSON.parse(json) as SignedEnvelope).envelope.bundles.map((b) => b.digest));
  }

  setStatus(id: string, status: TargetStatus, actor: Actor, reason: string | undefined): Target {
    this.store.transaction(() => {
      const row = this.store.targetRow(id);
      if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${id} does not exist`);
      if (row.status === 'revoked' && status !== 'revoked') throw new FlotillaError('CONFLICT', `target ${id} is revoked, which is final; enroll the agent again with a new key`);
      this.store.setStatus(id, status, this.clock(), actor);
      this.audit.append({ actor, action: `target.${status === 'active' ? 'enable' : status === 'disabled' ? 'disable' : 'revoke'}`, subjects: [id], outcome: 'success', ...(reason === undefined ? {} : { reason }), details: { from: row.status, to: status } });
    });
    this.cache.invalidate(id);
    return this.get(id);
  }
}
