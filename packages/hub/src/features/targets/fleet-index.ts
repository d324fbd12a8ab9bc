import {
  compare,
  nowMillis,
  planQuery,
  valueMatcher,
  type FieldValue,
  type Plan,
  type Query,
  type TargetFieldRow,
  type TextColumn,
  type TimeColumn,
} from '@flotilla/protocol/query';

/** The columns of a target a query reads directly, beside its field rows. */
export interface FleetIndexColumns {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly lastSeen: number | null;
  readonly lastChanged: number;
  readonly enrolled: number;
}

/**
 * One field across the fleet, stored by target (a forward index): the value each target
 * holds, as an id into the field's distinct values. A target holding several values of one
 * field (drift classes) keeps the first in `held` and the others in `more`.
 */
interface FieldColumn {
  /** Per value id: its readings as queries test them (a number, its text, or both). */
  readonly readings: FieldValue[][];
  readonly texts: string[];
  /** Value ids by their readings' types and texts. */
  readonly ids: Map<string, number>;
  /** Per value id: how many targets hold it, for ordering the conditions of an `and`. */
  readonly counts: number[];
  /** Per ordinal: value id + 1, or 0 when the target lacks the field. */
  held: Int32Array;
  readonly more: Map<number, number[]>;
  /**
   * The holders of each value, made when a query first drives by the field and dropped when a
   * target's value of it changes: a narrow condition then visits its holders, not every slot.
   */
  postings: Postings | undefined;
}

/** Per value id, its holders' ordinals, increasing: `ordinals[start[value]..start[value + 1])`. */
interface Postings {
  readonly start: Int32Array;
  readonly ordinals: Int32Array;
}

/**
 * A driving condition selecting fewer than one target in this many visits its holders through
 * the field's postings; a wider one scans the field's column, which costs less per target.
 */
const POSTINGS_SHARE = 8;
/**
 * An answer of fewer than one target in this many, while slots are not in id order, is sorted
 * by id; a wider one is picked out of every slot in id order (a pass over the fleet, no sort).
 */
const FEW_SORTED = 16;

type Predicate = (ordinal: number) => boolean;

/** The targets' own columns as the store reads them in bulk: one array per column, each in the same order. */
export interface FleetIndexTargets {
  readonly ids: readonly string[];
  readonly names: readonly string[];
  readonly statuses: readonly string[];
  readonly lastSeen: readonly (number | null)[];
  readonly lastChanged: readonly number[];
  readonly enrolled: readonly number[];
}

/** One distinct value of a field, and every target holding it, as the store reads them in bulk. */
export interface FleetIndexValue extends TargetFieldRow {
  /** The ordinals (positions in id order) of the targets holding the value, increasing. */
  readonly holders: ArrayLike<number>;
}

const SNAPSHOT_FORMAT = 1;
const NONE = Number.NaN;

/** The readings a query tests a row by: a number, its text, or both, as the SQL index holds them. */
function readingsOf(row: TargetFieldRow): FieldValue[] {
  const readings: FieldValue[] = [];
  if (row.num !== null) readings.push(row.num);
  if (row.num === null || row.version !== null || row.time !== null) readings.push(row.text);
  return readings;
}

/**
 * The fleet query answered from memory, built from the same rows the SQL index holds
 * (`targetFieldRows`) and read through the same plan the SQL compiler and the in-memory
 * matcher interpret, so all three agree (a property test checks it).
 *
 * Laid out by column rather than by posting list: per target slot a few typed-array entries
 * (one per field it has, plus its times) instead of a Set entry per field value, which is
 * what made the earlier index 124 MB at 100,000 targets. A condition on a field is decided
 * once per distinct value (a dozen regions, a few versions) into a bit per value; a query is
 * then one pass over the slots testing those bits, its most selective condition first. The
 * slots are in id order when built, so the answer needs no sort unless targets came later.
 *
 * `snapshot()` and `FleetIndex.fromSnapshot` write and read the whole index as one buffer, so
 * a restarted hub loads it instead of rebuilding it from the store.
 */
export class FleetIndex {
  private readonly ordinals = new Map<string, number>();
  private ids: (string | undefined)[] = [];
  private names: string[] = [];
  private statuses: string[] = [];
  private lastSeen: Float64Array = new Float64Array(0);
  private lastChanged: Float64Array = new Float64Array(0);
  private enrolled: Float64Array = new Float64Array(0);
  private readonly free: number[] = [];
  private readonly fields = new Map<string, FieldColumn>();
  /** Whether slots are in id order: appended targets may break it, and then answers are sorted. */
  private ordered = true;
  /** The greatest id ever given a slot. */
  private last = '';
  /**
   * The slots in id order while slots are not ({@link ordered} false), made when first asked for
   * and dropped when a target takes a slot: reports, which rewrite a target's fields in its slot,
   * keep it, and a slot a removed target left is never picked from it.
   */
  private byId: Int32Array | undefined;

  get size(): number {
    return this.ordinals.size;
  }

  /**
   * The index of a whole fleet at once: `targets` in id order (each one's position is its
   * ordinal) and every distinct field value with the ordinals of its holders. What a start
   * without a snapshot builds: a few thousand values instead of a row per target and field.
   * Each value's holders are read as it comes, so `values` may hand them all in one reused buffer.
   */
  static fromValues(targets: FleetIndexTargets, values: Iterable<FleetIndexValue>): FleetIndex {
    const index = new FleetIndex();
    const slots = targets.ids.length;
    index.grow(Math.max(1024, slots));
    index.ids = new Array<string | undefined>(slots);
    index.names = new Array<string>(slots);
    index.statuses = new Array<string>(slots);
    const { ids, names, statuses, lastSeen, lastChanged, enrolled } = targets;
    for (let ordinal = 0; ordinal < slots; ordinal++) {
      const id = ids[ordinal]!;
      index.ids[ordinal] = id;
      index.ordinals.set(id, ordinal);
      index.writeColumns(ordinal, {
        id,
        name: names[ordinal]!,
        status: statuses[ordinal]!,
        lastSeen: lastSeen[ordinal] ?? null,
        lastChanged: lastChanged[ordinal]!,
        enrolled: enrolled[ordinal]!,
      });
      if (id < index.last) index.ordered = false;
      else index.last = id;
    }
    for (const value of values) {
      const column = index.column(value.field);
      const id = index.valueId(column, value);
      const { held, more } = column;
      const { holders } = value;
      column.counts[id]! += holders.length;
      for (let i = 0; i < holders.length; i++) {
        const ordinal = holders[i]!;
        if (held[ordinal] === 0) held[ordinal] = id + 1;
        else {
          const others = more.get(ordinal);
          if (others === undefined) more.set(ordinal, [id]);
          else others.push(id);
        }
      }
    }
    return index;
  }

  /** Puts a target in the index, replacing what it held before. */
  set(columns: FleetIndexColumns, rows: readonly TargetFieldRow[]): void {
    let ordinal = this.ordinals.get(columns.id);
    if (ordinal === undefined) {
      const reused = this.free.pop();
      ordinal = reused ?? this.slot();
      // Built in id order, slots stay in id order while each new id sorts after the last.
      if (reused !== undefined || columns.id < this.last) this.ordered = false;
      else this.last = columns.id;
      this.byId = undefined;
      this.ordinals.set(columns.id, ordinal);
      this.ids[ordinal] = columns.id;
      this.writeColumns(ordinal, columns);
      for (const row of rows) this.hold(ordinal, row);
      return;
    }
    this.writeColumns(ordinal, columns);
    // Most writes (a report) leave most of a target's fields as they were: only the fields whose
    // values changed are rewritten, so the postings of the others stay valid.
    const next = new Map<FieldColumn, number[]>();
    for (const row of rows) {
      const column = this.column(row.field);
      const value = this.valueId(column, row);
      const values = next.get(column);
      if (values === undefined) next.set(column, [value]);
      else values.push(value);
    }
    for (const column of this.fields.values()) {
      const values = next.get(column) ?? [];
      if (sameValues(heldValues(column, ordinal), values)) continue;
      this.releaseField(column, ordinal);
      for (const value of values) this.holdValue(column, ordinal, value);
    }
  }

  /** A new slot at the end, growing the typed arrays by doubling. */
  private slot(): number {
    const ordinal = this.ids.length;
    this.ids.push(undefined);
    if (ordinal >= this.lastSeen.length) this.grow(Math.max(1024, this.lastSeen.length * 2));
    return ordinal;
  }

  private grow(capacity: number): void {
    const widen = (from: Float64Array): Float64Array => {
      const to = new Float64Array(capacity).fill(NONE);
      to.set(from);
      return to;
    };
    this.lastSeen = widen(this.lastSeen);
    this.lastChanged = widen(this.lastChanged);
    this.enrolled = widen(this.enrolled);
    for (const column of this.fields.values()) {
      const held = new Int32Array(capacity);
      held.set(column.held);
      column.held = held;
    }
  }

  private writeColumns(ordinal: number, columns: FleetIndexColumns): void {
    this.names[ordinal] = columns.name;
    this.statuses[ordinal] = columns.status;
    this.lastSeen[ordinal] = columns.lastSeen ?? NONE;
    this.lastChanged[ordinal] = columns.lastChanged;
    this.enrolled[ordinal] = columns.enrolled;
  }

  private column(field: string): FieldColumn {
    let column = this.fields.get(field);
    if (column === undefined) {
      column = {
        readings: [],
        texts: [],
        ids: new Map(),
        counts: [],
        held: new Int32Array(this.lastSeen.length),
        more: new Map(),
        postings: undefined,
      };
      this.fields.set(field, column);
    }
    return column;
  }

  /** The id of a value in a field's column, given one if it is new. */
  private valueId(column: FieldColumn, row: TargetFieldRow): number {
    const readings = readingsOf(row);
    // By readings, not text: the string "2" and the number 2 share a text but not a meaning.
    const key = readingsKey(readings);
    let value = column.ids.get(key);
    if (value === undefined) {
      value = column.texts.length;
      column.ids.set(key, value);
      column.texts.push(row.text);
      column.readings.push(readings);
      column.counts.push(0);
    }
    return value;
  }

  private hold(ordinal: number, row: TargetFieldRow): void {
    const column = this.column(row.field);
    this.holdValue(column, ordinal, this.valueId(column, row));
  }

  private holdValue(column: FieldColumn, ordinal: number, value: number): void {
    column.postings = undefined;
    column.counts[value]!++;
    if (column.held[ordinal] === 0) column.held[ordinal] = value + 1;
    else {
      const more = column.more.get(ordinal);
      if (more === undefined) column.more.set(ordinal, [value]);
      else more.push(value);
    }
  }

  /** Changes a target's columns without touching its fields: a heartbeat, say. */
  setColumns(columns: FleetIndexColumns): void {
    const ordinal = this.ordinals.get(columns.id);
    if (ordinal !== undefined) this.writeColumns(ordinal, columns);
  }

  columnsOf(id: string): FleetIndexColumns | undefined {
    const ordinal = this.ordinals.get(id);
    if (ordinal === undefined) return undefined;
    const seen = this.lastSeen[ordinal]!;
    return {
      id,
      name: this.names[ordinal]!,
      status: this.statuses[ordinal]!,
      lastSeen: Number.isNaN(seen) ? null : seen,
      lastChanged: this.lastChanged[ordinal]!,
      enrolled: this.enrolled[ordinal]!,
    };
  }

  remove(id: string): void {
    const ordinal = this.ordinals.get(id);
    if (ordinal === undefined) return;
    this.release(ordinal);
    this.ids[ordinal] = undefined;
    this.ordinals.delete(id);
    this.free.push(ordinal);
  }

  private release(ordinal: number): void {
    for (const column of this.fields.values()) this.releaseField(column, ordinal);
  }

  private releaseField(column: FieldColumn, ordinal: number): void {
    const held = column.held[ordinal]!;
    if (held === 0) return;
    column.postings = undefined;
    column.counts[held - 1]!--;
    column.held[ordinal] = 0;
    const more = column.more.get(ordinal);
    if (more === undefined) return;
    for (const value of more) column.counts[value]!--;
    column.more.delete(ordinal);
  }

  /**
   * The ids of the targets the query selects at `now`, sorted. The narrowest field condition
   * picks the candidates (from its postings when narrow, else in one pass over its column); each
   * other condition then narrows them in a pass of its own, narrowest first, so each loop tests
   * one column of typed arrays rather than calling a closure per condition per candidate.
   */
  select(query: Query, now: Date | number): string[] {
    const slots = this.selectOrdinals(query, now);
    const ids = new Array<string>(slots.length);
    for (let i = 0; i < slots.length; i++) ids[i] = this.ids[slots[i]!]!;
    return ids;
  }

  /** The slots of the targets the query selects at `now`, in id order (see {@link select}). */
  private selectOrdinals(query: Query, now: Date | number): Int32Array {
    const plan = planQuery(query, nowMillis(now));
    const items = plan.kind === 'and' ? plan.items : [plan];
    const ranked = items
      .map((item) => ({ item, size: this.estimate(item) }))
      .sort((a, b) => a.size - b.size)
      .map(({ item }) => item);
    const driver = ranked.find((item): item is Plan & { kind: 'rows' } => item.kind === 'rows');
    if (driver === undefined) return this.scan(this.predicate(plan));
    const column = this.fields.get(driver.field);
    if (column === undefined) return new Int32Array(0);
    const candidates = this.holders(column, this.matching(column, driver));
    let count = candidates.length;
    for (const item of ranked) if (item !== driver && count > 0) count = this.narrow(item, candidates, count);
    return this.inIdOrder(candidates.subarray(0, count));
  }

  /** The slots of every target passing `test`, in id order. */
  private scan(test: Predicate): Int32Array {
    const all = this.ids;
    const found = new Int32Array(all.length);
    let count = 0;
    for (let ordinal = 0; ordinal < all.length; ordinal++)
      if (all[ordinal] !== undefined && test(ordinal)) found[count++] = ordinal;
    return this.inIdOrder(found.subarray(0, count));
  }

  /**
   * `slots` (increasing) in the order of their targets' ids. While slots are in id order that is
   * their own; else a few are sorted by id, and many are picked out of the slots in id order,
   * which a wave's passes over 18,000 targets otherwise paid for with a sort of 18,000 ids each.
   */
  private inIdOrder(slots: Int32Array): Int32Array {
    if (this.ordered) return slots;
    const ids = this.ids;
    if (slots.length * FEW_SORTED < ids.length) return slots.slice().sort(this.compareIds);
    const picked = new Uint8Array(ids.length);
    for (let i = 0; i < slots.length; i++) picked[slots[i]!] = 1;
    const out = new Int32Array(slots.length);
    let count = 0;
    for (const ordinal of this.slotsById()) if (picked[ordinal] === 1) out[count++] = ordinal;
    return out;
  }

  /** {@link byId}, made now if it was dropped. */
  private slotsById(): Int32Array {
    this.byId ??= this.occupied().sort(this.compareIds);
    return this.byId;
  }

  private readonly compareIds = (a: number, b: number): number => {
    const ids = this.ids;
    return ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0;
  };

  /** The occupied slots, increasing. */
  private occupied(): Int32Array {
    const all = this.ids;
    const found = new Int32Array(this.ordinals.size);
    let count = 0;
    for (let ordinal = 0; ordinal < all.length; ordinal++) if (all[ordinal] !== undefined) found[count++] = ordinal;
    return found.subarray(0, count);
  }

  /** The ordinals of the targets holding a value `matches` flags, increasing, each once. */
  private holders(column: FieldColumn, matches: Uint8Array): Int32Array {
    let holders = 0;
    for (let value = 0; value < column.counts.length; value++)
      if (matches[value + 1] === 1) holders += column.counts[value]!;
    const slots = this.ids.length;
    if (holders * POSTINGS_SHARE < slots) return this.holdersByPostings(column, matches);
    const { held, more } = column;
    // As long as the slots, not the estimate: a typed array drops what is written past its end.
    const found = new Int32Array(slots);
    let count = 0;
    for (let ordinal = 0; ordinal < slots; ordinal++) if (matches[held[ordinal]!] === 1) found[count++] = ordinal;
    // Targets holding several values of the field: the first is in `held`, the others here.
    if (more.size === 0) return found.subarray(0, count);
    const start = count;
    for (const [ordinal, values] of more)
      if (matches[held[ordinal]!] !== 1 && values.some((value) => matches[value + 1] === 1)) found[count++] = ordinal;
    return count === start ? found.subarray(0, count) : found.subarray(0, count).sort();
  }

  private holdersByPostings(column: FieldColumn, matches: Uint8Array): Int32Array {
    const { start, ordinals } = this.postings(column);
    const lists: number[] = [];
    let holders = 0;
    for (let value = 0; value + 1 < matches.length; value++) {
      if (matches[value + 1] !== 1 || start[value] === start[value + 1]) continue;
      lists.push(value);
      holders += start[value + 1]! - start[value]!;
    }
    // One list is in slot order already; several interleave, and a target holding two of the
    // values is in both.
    if (lists.length === 1) return ordinals.slice(start[lists[0]!], start[lists[0]! + 1]);
    const found = new Int32Array(holders);
    let count = 0;
    for (const value of lists) {
      found.set(ordinals.subarray(start[value], start[value + 1]), count);
      count += start[value + 1]! - start[value]!;
    }
    found.sort();
    let unique = 0;
    for (let i = 0; i < count; i++) if (i === 0 || found[i] !== found[i - 1]) found[unique++] = found[i]!;
    return found.subarray(0, unique);
  }

  /**
   * Keeps, in order at the front of `candidates`, those of the first `count` that pass `plan`;
   * returns how many. A condition on a field whose targets hold one value each, and one on a
   * time, get a loop of their own; the rest are tested through {@link predicate}.
   */
  private narrow(plan: Plan, candidates: Int32Array, count: number): number {
    let kept = 0;
    if (plan.kind === 'rows') {
      const column = this.fields.get(plan.field);
      if (column === undefined) return 0;
      if (column.more.size === 0) {
        const matches = this.matching(column, plan);
        const { held } = column;
        for (let i = 0; i < count; i++) {
          const ordinal = candidates[i]!;
          if (matches[held[ordinal]!] === 1) candidates[kept++] = ordinal;
        }
        return kept;
      }
    }
    if (plan.kind === 'time-column') {
      const times = this.timeColumn(plan.column);
      const { op, value } = plan;
      for (let i = 0; i < count; i++) {
        const ordinal = candidates[i]!;
        const time = times[ordinal]!;
        if (!Number.isNaN(time) && compare(op, time, value)) candidates[kept++] = ordinal;
      }
      return kept;
    }
    const test = this.predicate(plan);
    for (let i = 0; i < count; i++) {
      const ordinal = candidates[i]!;
      if (test(ordinal)) candidates[kept++] = ordinal;
    }
    return kept;
  }

  /** A field's postings, made from its column in two passes if a write dropped them. */
  private postings(column: FieldColumn): Postings {
    const values = column.texts.length;
    if (column.postings?.start.length === values + 1) return column.postings;
    const { held, more } = column;
    const slots = this.ids.length;
    const start = new Int32Array(values + 1);
    for (let ordinal = 0; ordinal < slots; ordinal++) {
      const value = held[ordinal]!;
      if (value !== 0) start[value]!++;
    }
    for (const others of more.values()) for (const value of others) start[value + 1]!++;
    for (let value = 0; value < values; value++) start[value + 1]! += start[value]!;
    const next = start.slice(0, values);
    const ordinals = new Int32Array(start[values]!);
    for (let ordinal = 0; ordinal < slots; ordinal++) {
      const value = held[ordinal]!;
      if (value !== 0) ordinals[next[value - 1]!++] = ordinal;
    }
    if (more.size > 0) {
      const touched = new Set<number>();
      for (const [ordinal, others] of more)
        for (const value of others) {
          ordinals[next[value]!++] = ordinal;
          touched.add(value);
        }
      for (const value of touched) ordinals.subarray(start[value], start[value + 1]).sort();
    }
    column.postings = { start, ordinals };
    return column.postings;
  }

  /**
   * The slots of the targets a query selects (every target when undefined), in id order: for
   * callers that read columns of the selected targets without their records (policy plans).
   */
  selectSlots(query: Query | undefined, now: Date | number): Int32Array {
    if (query !== undefined) return this.selectOrdinals(query, now);
    if (this.ordered) return this.occupied();
    // Every target: the slots in id order as they are, less those removed targets left.
    const ids = this.ids;
    return this.slotsById().filter((ordinal) => ids[ordinal] !== undefined);
  }

  /** One byte per slot: 1 where the slot holds a target the query selects at `now`. */
  matchSlots(query: Query, now: Date | number): Uint8Array {
    const test = this.predicate(planQuery(query, nowMillis(now)));
    const all = this.ids;
    const out = new Uint8Array(all.length);
    for (let ordinal = 0; ordinal < all.length; ordinal++)
      if (all[ordinal] !== undefined && test(ordinal)) out[ordinal] = 1;
    return out;
  }

  /**
   * The slots of those of `ids` the query selects at `now`, in the order given (ids the index
   * does not hold left out): a few targets tested one by one, where {@link selectSlots} passes
   * over the fleet.
   */
  selectAmong(query: Query, now: Date | number, ids: readonly string[]): Int32Array {
    const test = this.predicate(planQuery(query, nowMillis(now)));
    const slots = new Int32Array(ids.length);
    let count = 0;
    for (const id of ids) {
      const ordinal = this.ordinals.get(id);
      if (ordinal !== undefined && test(ordinal)) slots[count++] = ordinal;
    }
    return slots.subarray(0, count);
  }

  /**
   * One field by slot: the id + 1 of the first value each target holds (0 when it lacks the
   * field), and the slots whose targets hold more than one value. Undefined when no target has
   * the field.
   */
  fieldSlots(field: string): { readonly held: Int32Array; readonly several: ReadonlySet<number> } | undefined {
    const column = this.fields.get(field);
    if (column === undefined) return undefined;
    return { held: column.held, several: new Set(column.more.keys()) };
  }

  /** The id, name and status of the target in a slot that {@link selectSlots} gave. */
  idAt(ordinal: number): string {
    return this.ids[ordinal]!;
  }

  nameAt(ordinal: number): string {
    return this.names[ordinal]!;
  }

  statusAt(ordinal: number): string {
    return this.statuses[ordinal]!;
  }

  /** Roughly how many targets a plan selects: the `and` tests its narrowest condition first. */
  private estimate(plan: Plan): number {
    switch (plan.kind) {
      case 'const':
        return plan.value ? this.size : 0;
      case 'rows': {
        const column = this.fields.get(plan.field);
        if (column === undefined) return 0;
        const matches = this.matching(column, plan);
        let sum = 0;
        for (let value = 0; value < column.counts.length; value++)
          if (matches[value + 1] === 1) sum += column.counts[value]!;
        return sum;
      }
      case 'and':
        return Math.min(...plan.items.map((item) => this.estimate(item)));
      case 'or':
        return Math.min(
          this.size,
          plan.items.reduce((sum, item) => sum + this.estimate(item), 0),
        );
      default:
        return this.size;
    }
  }

  /** One flag per value id + 1 (slot 0 is "no value"): whether the value passes one of the tests. */
  private matching(column: FieldColumn, plan: Plan & { kind: 'rows' }): Uint8Array {
    const tests = plan.tests.map(valueMatcher);
    const matches = new Uint8Array(column.texts.length + 1);
    column.readings.forEach((readings, value) => {
      if (column.counts[value]! > 0 && readings.some((reading) => tests.some((test) => test(reading))))
        matches[value + 1] = 1;
    });
    return matches;
  }

  private predicate(plan: Plan): Predicate {
    switch (plan.kind) {
      case 'const':
        return () => plan.value;
      case 'rows': {
        const column = this.fields.get(plan.field);
        if (column === undefined) return () => false;
        const matches = this.matching(column, plan);
        const { held, more } = column;
        if (more.size === 0) return (ordinal) => matches[held[ordinal]!] === 1;
        return (ordinal) =>
          matches[held[ordinal]!] === 1 || (more.get(ordinal)?.some((value) => matches[value + 1] === 1) ?? false);
      }
      case 'and': {
        const items = [...plan.items]
          .map((item) => ({ item, size: this.estimate(item) }))
          .sort((a, b) => a.size - b.size)
          .map(({ item }) => this.predicate(item));
        if (items.length === 1) return items[0]!;
        return (ordinal) => {
          for (const item of items) if (!item(ordinal)) return false;
          return true;
        };
      }
      case 'or': {
        const items = plan.items.map((item) => this.predicate(item));
        return (ordinal) => {
          for (const item of items) if (item(ordinal)) return true;
          return false;
        };
      }
      case 'not': {
        const item = this.predicate(plan.item);
        return (ordinal) => !item(ordinal);
      }
      case 'text-column': {
        const tests = plan.tests.map(valueMatcher);
        const values = this.textColumn(plan.column);
        return (ordinal) => tests.some((test) => test(values[ordinal]!));
      }
      case 'time-column': {
        const times = this.timeColumn(plan.column);
        return (ordinal) => {
          const time = times[ordinal]!;
          return !Number.isNaN(time) && compare(plan.op, time, plan.value);
        };
      }
      case 'time-column-exists': {
        const times = this.timeColumn(plan.column);
        return (ordinal) => !Number.isNaN(times[ordinal]!);
      }
    }
  }

  private textColumn(column: TextColumn): readonly (string | undefined)[] {
    return column === 'id' ? this.ids : column === 'name' ? this.names : this.statuses;
  }

  private timeColumn(column: TimeColumn): Float64Array {
    return column === 'lastSeen' ? this.lastSeen : column === 'lastChanged' ? this.lastChanged : this.enrolled;
  }

  /**
   * The whole index as one buffer: a JSON header (ids, names, statuses, each field's
   * distinct values) followed by the typed arrays as they are in memory.
   */
  snapshot(): Buffer {
    const slots = this.ids.length;
    const fields = [...this.fields].map(([name, column]) => ({
      name,
      texts: column.texts,
      readings: column.readings,
      counts: column.counts,
      more: [...column.more],
    }));
    const header = Buffer.from(
      JSON.stringify({
        format: SNAPSHOT_FORMAT,
        slots,
        ordered: this.ordered,
        ids: this.ids.map((id) => id ?? null),
        names: this.names,
        statuses: this.statuses,
        fields,
      }),
    );
    const start = align8(4 + header.length);
    const buffer = Buffer.alloc(start + slots * 8 * 3 + fields.length * align8(slots * 4));
    buffer.writeUInt32LE(header.length, 0);
    header.copy(buffer, 4);
    let offset = start;
    for (const times of [this.lastSeen, this.lastChanged, this.enrolled]) {
      Buffer.from(times.buffer, times.byteOffset, slots * 8).copy(buffer, offset);
      offset += slots * 8;
    }
    for (const column of this.fields.values()) {
      Buffer.from(column.held.buffer, column.held.byteOffset, slots * 4).copy(buffer, offset);
      offset += align8(slots * 4);
    }
    return buffer;
  }

  /** The index a {@link snapshot} holds; undefined for a buffer of another format. */
  static fromSnapshot(buffer: Buffer): FleetIndex | undefined {
    const length = buffer.readUInt32LE(0);
    const header = JSON.parse(buffer.toString('utf8', 4, 4 + length)) as {
      format: number;
      slots: number;
      ordered: boolean;
      ids: (string | null)[];
      names: string[];
      statuses: string[];
      fields: {
        name: string;
        texts: string[];
        readings: FieldValue[][];
        counts: number[];
        more: [number, number[]][];
      }[];
    };
    if (header.format !== SNAPSHOT_FORMAT) return undefined;
    const index = new FleetIndex();
    const { slots } = header;
    const capacity = Math.max(1024, slots);
    index.ids = header.ids.map((id) => id ?? undefined);
    index.names = header.names;
    index.statuses = header.statuses;
    index.ordered = header.ordered;
    index.ids.forEach((id, ordinal) => {
      if (id === undefined) index.free.push(ordinal);
      else {
        index.ordinals.set(id, ordinal);
        if (id > index.last) index.last = id;
      }
    });
    let offset = align8(4 + length);
    const times = (): Float64Array => {
      const to = new Float64Array(capacity).fill(NONE);
      to.set(new Float64Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + slots * 8)));
      offset += slots * 8;
      return to;
    };
    index.lastSeen = times();
    index.lastChanged = times();
    index.enrolled = times();
    for (const field of header.fields) {
      const held = new Int32Array(capacity);
      held.set(new Int32Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + slots * 4)));
      offset += align8(slots * 4);
      index.fields.set(field.name, {
        texts: field.texts,
        readings: field.readings,
        ids: new Map(field.readings.map((readings, value) => [readingsKey(readings), value])),
        counts: field.counts,
        held,
        more: new Map(field.more),
        postings: undefined,
      });
    }
    return index;
  }
}

/** The value ids a target holds in a field, first the one in `held`. */
function heldValues(column: FieldColumn, ordinal: number): readonly number[] {
  const held = column.held[ordinal]!;
  if (held === 0) return [];
  const more = column.more.get(ordinal);
  return more === undefined ? [held - 1] : [held - 1, ...more];
}

function sameValues(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function readingsKey(readings: readonly FieldValue[]): string {
  return readings.map((reading) => `${typeof reading}:${String(reading)}`).join('\u0000');
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
