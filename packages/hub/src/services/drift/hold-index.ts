import { type Hold, type Target } from '@flotilla/protocol';
import { compileMatcher, parseQuery } from '@flotilla/protocol/query';
import type { Clock } from '../clock.ts';
import type { DriftStore, IncidentRow } from './drift-store.ts';

interface OpenIncident {
  readonly hold: Hold;
  readonly matches: (target: Target, now: number) => boolean;
}

/**
 * The holds in force for a target: every open incident whose selector matches it now. The
 * open incidents are read once and their selectors compiled once, until an incident opens or
 * closes ({@link invalidate}); matching uses the in-memory evaluator of the fleet query
 * language, which a property test keeps in agreement with the SQL the hub selects with.
 */
export class HoldIndex {
  private readonly store: DriftStore;
  private readonly clock: Clock;
  private open: readonly OpenIncident[] | undefined;

  constructor(store: DriftStore, clock: Clock) {
    this.store = store;
    this.clock = clock;
  }

  /** Drops what was read: call when an incident opens or closes, before re-signing envelopes. */
  invalidate(): void {
    this.open = undefined;
  }

  /** Whether any incident is open: when none is, no target needs to be read to sign. */
  any(): boolean {
    return this.incidents().length > 0;
  }

  /** The holds of the open incidents that select `target`, oldest first. */
  holdsFor(target: Target): Hold[] {
    const now = this.clock();
    return this.incidents()
      .filter((incident) => incident.matches(target, now))
      .map((incident) => incident.hold);
  }

  private incidents(): readonly OpenIncident[] {
    this.open ??= this.store.openIncidents().map((row) => this.compile(row));
    return this.open;
  }

  private compile(row: IncidentRow): OpenIncident {
    const hold: Hold = { id: row.id, reason: row.reason, since: new Date(row.opened_at).toISOString() };
    // Stored in canonical form when opened; relative times in it are read at each signing.
    const query = row.selector === '' ? undefined : parseQuery(row.selector);
    return {
      hold,
      matches: query === undefined ? () => true : (target, now) => compileMatcher(query, { now })(target),
    };
  }
}
