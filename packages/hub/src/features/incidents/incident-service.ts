import { FlotillaError, type Actor } from '@flotilla/protocol';
import type { Incident, IncidentChange, OpenIncidentRequest } from '@flotilla/protocol/api';
import { AUDIT_MAX_SUBJECTS } from '@flotilla/protocol/audit';
import { formatQuery, type Query } from '@flotilla/protocol/query';
import { appendInParts } from '../../append-in-parts.ts';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { HoldIndex } from './hold-index.ts';
import type { IncidentRecord, IncidentStore } from './incident-store.ts';

/** Selects targets by fleet query (the targets feature). */
export interface IncidentSelection {
  parse(text: string | undefined): Query | undefined;
  ids(query: Query | undefined): string[];
}

/** Signs targets' envelopes again with the holds in force (the desired-state feature). */
export interface HoldReissue {
  reissueMany(targetIds: readonly string[]): string[];
  targetsHolding(holdId: string): string[];
  holdsAny(targetId: string): boolean;
  announce(targetIds: Iterable<string>): void;
}

export interface IncidentServiceDeps {
  readonly tx: Transactions;
  readonly store: IncidentStore;
  readonly holds: HoldIndex;
  readonly fleet: IncidentSelection;
  readonly envelopes: HoldReissue;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

function incidentOf(record: IncidentRecord): Incident {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    id: record.id,
    selector: record.selector,
    reason: record.reason,
    state: record.state,
    openedAt: iso(record.openedAt),
    openedBy: record.openedBy,
    ...(record.closedAt === null ? {} : { closedAt: iso(record.closedAt) }),
    ...(record.closedBy === null ? {} : { closedBy: record.closedBy }),
    ...(record.closeReason === null ? {} : { closeReason: record.closeReason }),
  };
}

/**
 * Incidents (docs/drift.md, "Holds"): while one is open, every target its selector matches
 * when the target's envelope is signed carries it as a hold, and that target's agent reverts
 * nothing: drift is reported as intentional with the incident's id. Opening and closing re-sign
 * the envelopes of the targets concerned (a new generation each) and are audited.
 */
export class IncidentService {
  private readonly deps: IncidentServiceDeps;

  constructor(deps: IncidentServiceDeps) {
    this.deps = deps;
  }

  get(id: string): Incident {
    const record = this.deps.store.get(id);
    if (record === undefined)
      throw new FlotillaError(
        'NOT_FOUND',
        `incident ${id} does not exist; open it with flotilla incident open ${id} --selector '…' --reason '…'`,
      );
    return incidentOf(record);
  }

  list(state: 'open' | 'closed' | undefined): Incident[] {
    return this.deps.store.list(state).map(incidentOf);
  }

  /**
   * Opens an incident (or opens a closed one again) for the targets a fleet query selects: their
   * envelopes are signed again with the hold. Its selector is kept and evaluated at every later
   * signing too, so a target that comes to match it gets the hold with its next envelope.
   */
  open(request: OpenIncidentRequest, actor: Actor): IncidentChange {
    const { tx, store, holds, fleet, envelopes, audit, clock } = this.deps;
    const query = fleet.parse(request.selector);
    const selector = query === undefined ? '' : formatQuery(query);
    let changed: string[];
    try {
      changed = tx.run(() => {
        const existing = store.get(request.id);
        if (existing?.state === 'open')
          throw new FlotillaError(
            'CONFLICT',
            `incident ${request.id} is already open (since ${new Date(existing.openedAt).toISOString()}); close it first, or choose another id`,
          );
        store.insert({ id: request.id, selector, reason: request.reason, at: clock(), actor });
        holds.invalidate();
        const reissued = envelopes.reissueMany(fleet.ids(query));
        appendInParts(
          audit,
          {
            actor,
            action: 'incident.open',
            outcome: 'success',
            reason: request.reason,
            details: { incident: request.id, selector, reopened: existing !== undefined, targets: reissued.length },
          },
          reissued,
          AUDIT_MAX_SUBJECTS,
        );
        return reissued;
      });
    } finally {
      holds.invalidate();
    }
    envelopes.announce(changed);
    return { incident: this.get(request.id), targets: changed };
  }

  /** Closes an incident: the targets whose envelopes carry its hold get one without it. */
  close(id: string, reason: string | undefined, actor: Actor): IncidentChange {
    const { tx, store, holds, envelopes, audit, clock } = this.deps;
    let changed: string[];
    try {
      changed = tx.run(() => {
        const existing = store.get(id);
        if (existing === undefined) throw new FlotillaError('NOT_FOUND', `incident ${id} does not exist`);
        if (!store.close(id, clock(), actor, reason ?? null))
          throw new FlotillaError('CONFLICT', `incident ${id} is already closed`);
        holds.invalidate();
        const reissued = envelopes.reissueMany(envelopes.targetsHolding(id));
        appendInParts(
          audit,
          {
            actor,
            action: 'incident.close',
            outcome: 'success',
            ...(reason === undefined ? {} : { reason }),
            details: { incident: id, selector: existing.selector, targets: reissued.length },
          },
          reissued,
          AUDIT_MAX_SUBJECTS,
        );
        return reissued;
      });
    } finally {
      holds.invalidate();
    }
    envelopes.announce(changed);
    return { incident: this.get(id), targets: changed };
  }

  /**
   * Gives a target the holds it should carry now, when they differ from its envelope's: called
   * after its labels or properties changed, so that one that came to match an open incident's
   * selector is held at once (and one that left it, released). Audited as `incident.hold`.
   */
  refreshTarget(targetId: string, actor: Actor): void {
    const { tx, holds, envelopes, audit } = this.deps;
    if (!holds.any() && !envelopes.holdsAny(targetId)) return;
    const changed = tx.run(() => {
      const reissued = envelopes.reissueMany([targetId]);
      if (reissued.length > 0)
        appendInParts(
          audit,
          {
            actor,
            action: 'incident.hold',
            outcome: 'success',
            details: { holds: holds.holdsFor(targetId).map((hold) => hold.id) },
          },
          reissued,
          AUDIT_MAX_SUBJECTS,
        );
      return reissued;
    });
    envelopes.announce(changed);
  }
}
