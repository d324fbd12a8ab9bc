import type { Hold, Target } from '@flotilla/protocol';
import { compileMatcher, parseQuery } from '@flotilla/protocol/query';
import type { Clock } from '../../clock.ts';
import type { IncidentRecord, IncidentStore } from './incident-store.ts';

interface OpenIncident {
  readonly hold: Hold;
  readonly matches: (target: Target, now: number) => boolean;
}

/** Reads a target's record, to match it against incidents' selectors (the targets feature's store). */
export interface TargetReader {
  target(id: string): Target | undefined;
}

export interface HoldIndexDeps {
  readonly store: IncidentStore;
  readonly targets: TargetReader;
  readonly clock: Clock;
}

/**
 * The holds in force for a target: every open incident whose selector matches it now. The
 * open incidents are read once and their selectors compiled once, until an incident opens or
 * closes ({@link invalidate}); matching uses the in-memory evaluator of the fleet query
 * language, which a property test keeps in agreement with the SQL the hub selects with.
 */
export class HoldIndex {
  private readonly deps: HoldIndexDeps;
  private open: readonly OpenIncident[] | undefined;

  constructor(deps: HoldIndexDeps) {
    this.deps = deps;
  }

  /** Drops what was read: call when an incident opens or closes, before re-signing envelopes. */
  invalidate(): void {
    this.open = undefined;
  }

  /** Whether any incident is open. */
  any(): boolean {
    return this.incidents().length > 0;
  }

  /** The holds of the open incidents that select the target, oldest first; when none is open, no target is read. */
  holdsFor(targetId: string): Hold[] {
    const incidents = this.incidents();
    if (incidents.length === 0) return [];
    const target = this.deps.targets.target(targetId);
    if (target === undefined) return [];
    const now = this.deps.clock();
    return incidents.filter((incident) => incident.matches(target, now)).map((incident) => incident.hold);
  }

  private incidents(): readonly OpenIncident[] {
    this.open ??= this.deps.store.open().map((record) => this.compile(record));
    return this.open;
  }

  private compile(record: IncidentRecord): OpenIncident {
    const hold: Hold = { id: record.id, reason: record.reason, since: new Date(record.openedAt).toISOString() };
    // Stored in canonical form when opened; relative times in it are read at each signing.
    const query = record.selector === '' ? undefined : parseQuery(record.selector);
    return {
      hold,
      matches: query === undefined ? () => true : (target, now) => compileMatcher(query, { now })(target),
    };
  }
}
