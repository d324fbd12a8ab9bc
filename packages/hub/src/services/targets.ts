import { FlotillaError, type Actor, type SignedEnvelope, type Target, type TargetStatus } from '@flotilla/protocol';
import { targetFromRow, type HubStore } from '../store/hub-store.ts';
import type { AuditSink } from './audit-sink.ts';
import type { Clock } from './clock.ts';
import type { TargetCache } from './target-cache.ts';

export interface TargetPage {
  readonly items: Target[];
  readonly total: number;
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: string;
}

/** Targets as records: reading them, and the status changes operators make. */
export class TargetService {
  private readonly store: HubStore;
  private readonly cache: TargetCache;
  private readonly audit: AuditSink;
  private readonly clock: Clock;

  constructor(
    store: HubStore,
    cache: TargetCache,
    audit: AuditSink,
    clock: Clock,
  ) {
    this.store = store;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
  }

  get(id: string): Target {
    const row = this.store.targetRow(id);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${id} does not exist`);
    return targetFromRow(row);
  }

  /** Keyset pagination by id: stable under concurrent enrollment, cheap at any depth. */
  list(after: string, limit: number): TargetPage {
    const rows = this.store.targetPage(after, limit + 1);
    const items = rows.slice(0, limit).map(targetFromRow);
    const last = items.at(-1);
    return { items, total: this.store.targetCount(), ...(rows.length > limit && last !== undefined ? { next: last.id } : {}) };
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
