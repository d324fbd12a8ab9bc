import { FlotillaError, type Actor } from '@flotilla/protocol';
import { formatQuery } from '@flotilla/protocol/query';
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { DesiredStateService } from '../desired-state.ts';
import type { FleetQuery } from '../fleet-query.ts';
import type { HubStore } from '../../store/hub-store.ts';
import type { DriftService } from './drift-service.ts';
import type { DriftStore, IncidentRow } from './drift-store.ts';

/** An incident id as operators write it: `INC-42`, `sev1-2025-03-01`. */
export const IncidentId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an incident id is 1-64 letters, digits, dots, dashes and underscores, starting with a letter or digit, such as INC-42');

export const OpenIncidentRequest = z.strictObject({
  id: IncidentId,
  /** A fleet query: the targets it selects hold back every revert while the incident is open. */
  selector: z.string().max(4096),
  reason: z.string().min(1).max(1024),
});
export type OpenIncidentRequest = z.infer<typeof OpenIncidentRequest>;

/** An incident as the API shows it. */
export interface Incident {
  readonly id: string;
  /** The canonical fleet query; empty selects every target. */
  readonly selector: string;
  readonly reason: string;
  readonly state: 'open' | 'closed';
  readonly openedAt: string;
  readonly openedBy: Actor;
  readonly closedAt?: string;
  readonly closedBy?: Actor;
  readonly closeReason?: string;
}

function incidentOf(row: IncidentRow): Incident {
  return {
    id: row.id,
    selector: row.selector,
    reason: row.reason,
    state: row.state,
    openedAt: new Date(row.opened_at).toISOString(),
    openedBy: JSON.parse(row.opened_by) as Actor,
    ...(row.closed_at === null ? {} : { closedAt: new Date(row.closed_at).toISOString() }),
    ...(row.closed_by === null ? {} : { closedBy: JSON.parse(row.closed_by) as Actor }),
    ...(row.close_reason === null ? {} : { closeReason: row.close_reason }),
  };
}

/**
 * Incidents (docs/drift.md, "Holds"): while one is open, every target its selector matches
 * when the target's envelope is signed carries it as a hold, and that target's agent reverts
 * nothing: drift is reported as intentional with the incident's id. Opening and closing re-sign
 * the envelopes of the targets concerned (a new generation each) and are audited.
 */
export class IncidentService {
  private readonly store: HubStore;
  private readonly drifts: DriftStore;
  private readonly drift: DriftService;
  private readonly desired: DesiredStateService;
  private readonly fleet: FleetQuery;
  private readonly clock: Clock;

  constructor(deps: { store: HubStore; drifts: DriftStore; drift: DriftService; desired: DesiredStateService; fleet: FleetQuery; clock: Clock }) {
    this.store = deps.store;
    this.drifts = deps.drifts;
    this.drift = deps.drift;
    this.desired = deps.desired;
    this.fleet = deps.fleet;
    this.clock = deps.clock;
  }

  get(id: string): Incident {
    const row = this.drifts.incident(id);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `incident ${id} does not exist; open it with flotilla incident open ${id} --selector '…' --reason '…'`);
    return incidentOf(row);
  }

  list(state: 'open' | 'closed' | undefined): Incident[] {
    return this.drifts.incidents(state).map(incidentOf);
  }

  /**
   * Opens an incident (or opens a closed one again) for the targets a fleet query selects: their
   * envelopes are signed again with the hold. Its selector is kept and evaluated at every later
   * signing too, so a target that comes to match it gets the hold with its next envelope.
   */
  open(request: OpenIncidentRequest, actor: Actor): { incident: Incident; targets: string[] } {
    const query = this.fleet.parse(request.selector);
    const selector = query === undefined ? '' : formatQuery(query);
    let changed: string[] = [];
    try {
      changed = this.store.transaction(() => {
        const existing = this.drifts.incident(request.id);
        if (existing?.state === 'open') throw new FlotillaError('CONFLICT', `incident ${request.id} is already open (since ${new Date(existing.opened_at).toISOString()}); close it first, or choose another id`);
        this.drifts.openIncident({ id: request.id, selector, reason: request.reason, at: this.clock(), actor });
        this.drift.holdsChanged();
        const reissued = this.drift.reissueMany(this.fleet.ids(query));
        this.drift.auditMany(reissued, { actor, action: 'incident.open', outcome: 'success', reason: request.reason, details: { incident: request.id, selector, reopened: existing !== undefined, targets: reissued.length } });
        return reissued;
      });
    } finally {
      this.drift.holdsChanged();
    }
    this.desired.announce(changed);
    return { incident: this.get(request.id), targets: changed };
  }

  /** Closes an incident: the targets whose envelopes carry its hold get one without it. */
  close(id: string, reason: string | undefined, actor: Actor): { incident: Incident; targets: string[] } {
    let changed: string[] = [];
    try {
      changed = this.store.transaction(() => {
        const existing = this.drifts.incident(id);
        if (existing === undefined) throw new FlotillaError('NOT_FOUND', `incident ${id} does not exist`);
        if (!this.drifts.closeIncident(id, this.clock(), actor, reason ?? null)) throw new FlotillaError('CONFLICT', `incident ${id} is already closed`);
        this.drift.holdsChanged();
        const reissued = this.drift.reissueMany(this.drifts.targetsHolding(id));
        this.drift.auditMany(reissued, { actor, action: 'incident.close', outcome: 'success', ...(reason === undefined ? {} : { reason }), details: { incident: id, selector: existing.selector, targets: reissued.length } });
        return reissued;
      });
    } finally {
      this.drift.holdsChanged();
    }
    this.desired.announce(changed);
    return { incident: this.get(id), targets: changed };
  }

  /**
   * Gives a target the holds it should carry now, when they differ from its envelope's: called
   * after its labels or properties changed, so that one that came to match an open incident's
   * selector is held at once (and one that left it, released). Audited as `incident.hold`.
   */
  refreshTarget(targetId: string, actor: Actor): boolean {
    if (this.drifts.openIncidents().length === 0 && !this.holdsAny(targetId)) return false;
    const changed = this.store.transaction(() => {
      const reissued = this.drift.reissueMany([targetId]);
      if (reissued.length > 0) this.drift.auditMany(reissued, { actor, action: 'incident.hold', outcome: 'success', details: { holds: this.drift.envelopeDrift(targetId).holds.map((hold) => hold.id) } });
      return reissued;
    });
    this.desired.announce(changed);
    return changed.length > 0;
  }

  /** Whether the target's current envelope carries any hold. */
  private holdsAny(targetId: string): boolean {
    const json = this.store.targetRow(targetId)?.envelope;
    if (json === null || json === undefined) return false;
    return (JSON.parse(json) as { envelope: { holds: unknown[] } }).envelope.holds.length > 0;
  }
}
