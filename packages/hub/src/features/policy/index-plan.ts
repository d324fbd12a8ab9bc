import type { Target } from '@flotilla/protocol';
import {
  compileRequirements,
  policyScope,
  TIMEZONE_PROPERTY,
  type Policy,
  type PolicyDecision,
  type PolicyEvaluator,
  type ReleaseRequirements,
} from '@flotilla/protocol/policy';
import type { Query } from '@flotilla/protocol/query';

/** What a plan reads of the fleet index (the targets feature's `FleetIndex`), by slot. */
export interface PlanIndex {
  selectSlots(query: Query | undefined, now: number): Int32Array;
  matchSlots(query: Query, now: number): Uint8Array;
  fieldSlots(field: string): { readonly held: Int32Array; readonly several: ReadonlySet<number> } | undefined;
  idAt(slot: number): string;
  nameAt(slot: number): string;
  statusAt(slot: number): string;
}

/** Every selected target's decision, by class of alike targets. */
export interface IndexPlan {
  /** The selected targets' slots, in id order. */
  readonly slots: Int32Array;
  /** Per selected target (same positions as `slots`), its class. */
  readonly classes: Int32Array;
  /** Per class, the decision every target of it gets. */
  readonly decisions: readonly PolicyDecision[];
}

export interface IndexPlanInput {
  readonly index: PlanIndex;
  readonly policies: readonly Policy[];
  readonly requirements: ReleaseRequirements | undefined;
  readonly evaluator: PolicyEvaluator;
  readonly selector: Query | undefined;
  readonly now: number;
  /** The records of these targets (one per class is read). */
  readonly records: (ids: readonly string[]) => Target[];
}

/** Past this many cells a refinement step keys its classes by a Map instead of a table. */
const TABLE_LIMIT = 1 << 22;

/**
 * Plans from the fleet index instead of every target's record (docs/policy.md, Performance):
 * each policy's scope is answered once as a byte per slot, and targets are split into classes
 * that agree on everything a decision reads: which policies match, status, time zone, and the
 * fields the release's requirements read. One record per class is read from the store and
 * decided by the record-based evaluator, so a class's decision is exactly the one each of its
 * targets would get alone; a target holding several values of one of those fields is a class
 * of its own. An equivalence test checks this against the evaluator over random fleets.
 */
export function planFromIndex(input: IndexPlanInput): IndexPlan {
  const { index, now } = input;
  const slots = index.selectSlots(input.selector, now);
  const n = slots.length;
  let classes = new Int32Array(n);
  let count = n === 0 ? 0 : 1;
  const values = new Int32Array(n);
  const refine = (cardinality: number): void => {
    if (cardinality <= 1 || count === 0) return;
    const next = new Int32Array(n);
    let made = 0;
    if (count * cardinality <= TABLE_LIMIT) {
      const table = new Int32Array(count * cardinality).fill(-1);
      for (let i = 0; i < n; i++) {
        const cell = classes[i]! * cardinality + values[i]!;
        let id = table[cell]!;
        if (id < 0) table[cell] = id = made++;
        next[i] = id;
      }
    } else {
      const table = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const cell = classes[i]! * cardinality + values[i]!;
        let id = table.get(cell);
        if (id === undefined) table.set(cell, (id = made++));
        next[i] = id;
      }
    }
    classes = next;
    count = made;
  };

  for (const policy of input.policies) {
    const matches = index.matchSlots(policyScope(policy), now);
    for (let i = 0; i < n; i++) values[i] = matches[slots[i]!]!;
    refine(2);
  }
  const statuses = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const status = index.statusAt(slots[i]!);
    let id = statuses.get(status);
    if (id === undefined) statuses.set(status, (id = statuses.size));
    values[i] = id;
  }
  refine(statuses.size);

  const fields = new Set(compileRequirements(input.requirements).fields);
  if (input.policies.some((policy) => policy.spec.windows !== undefined)) fields.add(`properties.${TIMEZONE_PROPERTY}`);
  const alone = new Set<number>();
  for (const field of fields) {
    const column = index.fieldSlots(field);
    if (column === undefined) continue;
    let cardinality = 1;
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      const value = column.held[slot]!;
      values[i] = value;
      if (value >= cardinality) cardinality = value + 1;
      if (column.several.has(slot)) alone.add(i);
    }
    refine(cardinality);
  }
  for (const i of alone) classes[i] = count++;

  const representatives = new Int32Array(count).fill(-1);
  for (let i = 0; i < n; i++) if (representatives[classes[i]!] === -1) representatives[classes[i]!] = slots[i]!;
  const ids = Array.from(representatives, (slot) => index.idAt(slot));
  const records = new Map(input.records(ids).map((target) => [target.id, target]));
  const decisions = ids.map((id) => {
    const target = records.get(id);
    // The index is kept in step with the store by every writer, within the same call.
    if (target === undefined) throw new Error(`planFromIndex: target ${id} is in the fleet index but not in the store`);
    return input.evaluator.evaluate(target);
  });
  return { slots, classes, decisions };
}
