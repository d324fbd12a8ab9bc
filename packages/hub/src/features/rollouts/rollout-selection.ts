import type { Query } from '@flotilla/protocol/query';
import type { FleetIndex } from '../targets/fleet-index.ts';
import type { RolloutStore, SelectedRow } from './rollout-store.ts';

/** The targets a rollout's selector (or a selector wave's) selects now. */
export interface RolloutSelection {
  /** The selected targets, revoked ones left out (they never fetch desired state again), in id order. */
  selected(query: Query, now: number): SelectedRow[];
  /**
   * {@link selected} without the targets `skip` says to leave out, which cost no row: a pass
   * over an 18,000-target rollout wants only the targets that are not members yet.
   */
  selectedExcept(query: Query, now: number, skip: (targetId: string) => boolean): SelectedRow[];
  /** Those of `targetIds` that {@link selected} would answer, in the order given: a slice re-checked without a pass over the fleet. */
  among(query: Query, now: number, targetIds: readonly string[]): SelectedRow[];
  /**
   * Outside a transaction, brings what answers {@link selected} up to date with the store until
   * `deadline` (a `performance.now()` time); true when it is. Lets a caller that can yield pay
   * for a large change in slices rather than inside its next step.
   */
  catchUp(deadline: number): boolean;
}

/** The slots, ids, names and statuses of the fleet index (the targets feature), in the same transaction as the store. */
export interface SelectionIndex {
  fleetIndex(): Pick<FleetIndex, 'selectSlots' | 'selectAmong' | 'idAt' | 'nameAt' | 'statusAt'>;
  catchUpFleetIndex(deadline: number): boolean;
}

/**
 * The selection answered by the fleet index in memory: a pass over typed arrays instead of
 * reading and sorting every selected target row, which at 18,000 targets was most of a
 * controller pass. The index is kept in step with the store by every writer of a target, and
 * inside a transaction reads the targets that transaction wrote, so it answers what the
 * store's query would ({@link RolloutStore.selected}; a property test holds them together).
 */
export class IndexedSelection implements RolloutSelection {
  private readonly index: SelectionIndex;

  constructor(index: SelectionIndex) {
    this.index = index;
  }

  selected(query: Query, now: number): SelectedRow[] {
    const index = this.index.fleetIndex();
    return rowsOf(index, index.selectSlots(query, now));
  }

  selectedExcept(query: Query, now: number, skip: (targetId: string) => boolean): SelectedRow[] {
    const index = this.index.fleetIndex();
    return rowsOf(index, index.selectSlots(query, now), skip);
  }

  among(query: Query, now: number, targetIds: readonly string[]): SelectedRow[] {
    const index = this.index.fleetIndex();
    return rowsOf(index, index.selectAmong(query, now, targetIds));
  }

  catchUp(deadline: number): boolean {
    return this.index.catchUpFleetIndex(deadline);
  }
}

/** The selection read from the store's target rows: what a hub without the index uses. */
export class StoreSelection implements RolloutSelection {
  private readonly rollouts: Pick<RolloutStore, 'selected'>;

  constructor(rollouts: Pick<RolloutStore, 'selected'>) {
    this.rollouts = rollouts;
  }

  selected(query: Query, now: number): SelectedRow[] {
    return this.rollouts.selected(query, now);
  }

  selectedExcept(query: Query, now: number, skip: (targetId: string) => boolean): SelectedRow[] {
    return this.rollouts.selected(query, now).filter((row) => !skip(row.id));
  }

  among(query: Query, now: number, targetIds: readonly string[]): SelectedRow[] {
    const selected = new Map(this.rollouts.selected(query, now).map((row) => [row.id, row]));
    return targetIds.flatMap((id) => selected.get(id) ?? []);
  }

  catchUp(): boolean {
    return true;
  }
}

function rowsOf(
  index: Pick<FleetIndex, 'idAt' | 'nameAt' | 'statusAt'>,
  slots: Int32Array,
  skip?: (targetId: string) => boolean,
): SelectedRow[] {
  const rows: SelectedRow[] = [];
  for (const slot of slots) {
    const id = index.idAt(slot);
    if (skip?.(id) === true) continue;
    const status = index.statusAt(slot) as SelectedRow['status'];
    if (status !== 'revoked') rows.push({ id, name: index.nameAt(slot), status });
  }
  return rows;
}
