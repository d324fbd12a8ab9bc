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

interface Posting {
  /** The value as the row tests read it: numbers stay numbers, everything else is text. */
  readonly value: FieldValue;
  readonly targets: Set<number>;
}

type Predicate = (ordinal: number) => boolean;

/**
 * The fleet query answered from memory: an inverted index from each field and distinct value
 * to the targets holding it, built from the same rows the SQL index holds
 * (`targetFieldRows`) and read through the same plan the SQL compiler and the in-memory
 * matcher interpret, so all three agree (a property test checks it).
 *
 * A condition on a field costs a pass over that field's distinct values (a dozen regions, a
 * few versions), not over the fleet. An `and` walks the targets of its most selective
 * condition and checks the rest per target by set membership.
 */
export class FleetIndex {
  private readonly ordinals = new Map<string, number>();
  private readonly columns: (FleetIndexColumns | undefined)[] = [];
  private readonly free: number[] = [];
  private readonly fields = new Map<string, Map<string, Posting>>();
  /** What each target holds, so that replacing it removes exactly its old postings. */
  private readonly held: (Posting[] | undefined)[] = [];

  get size(): number {
    return this.ordinals.size;
  }

  /** Puts a target in the index, replacing what it held before. */
  set(columns: FleetIndexColumns, rows: readonly TargetFieldRow[]): void {
    let ordinal = this.ordinals.get(columns.id);
    if (ordinal === undefined) {
      ordinal = this.free.pop() ?? this.columns.length;
      this.ordinals.set(columns.id, ordinal);
    } else {
      this.release(ordinal);
    }
    this.columns[ordinal] = columns;
    const postings: Posting[] = [];
    for (const row of rows) {
      let values = this.fields.get(row.field);
      if (values === undefined) {
        values = new Map();
        this.fields.set(row.field, values);
      }
      // A number and a string with the same text share one row; the row keeps the typed
      // readings of both, so the target gets a posting for each.
      if (row.num !== null) postings.push(this.post(values, row.num, ordinal));
      if (row.num === null || row.version !== null || row.time !== null)
        postings.push(this.post(values, row.text, ordinal));
    }
    this.held[ordinal] = postings;
  }

  private post(values: Map<string, Posting>, value: FieldValue, ordinal: number): Posting {
    const key = `${typeof value}:${String(value)}`;
    let posting = values.get(key);
    if (posting === undefined) {
      posting = { value, targets: new Set() };
      values.set(key, posting);
    }
    posting.targets.add(ordinal);
    return posting;
  }

  /** Changes a target's columns without touching its field postings: a heartbeat, say. */
  setColumns(columns: FleetIndexColumns): void {
    const ordinal = this.ordinals.get(columns.id);
    if (ordinal !== undefined) this.columns[ordinal] = columns;
  }

  columnsOf(id: string): FleetIndexColumns | undefined {
    const ordinal = this.ordinals.get(id);
    return ordinal === undefined ? undefined : this.columns[ordinal];
  }

  remove(id: string): void {
    const ordinal = this.ordinals.get(id);
    if (ordinal === undefined) return;
    this.release(ordinal);
    this.columns[ordinal] = undefined;
    this.ordinals.delete(id);
    this.free.push(ordinal);
  }

  private release(ordinal: number): void {
    for (const posting of this.held[ordinal] ?? []) posting.targets.delete(ordinal);
    this.held[ordinal] = undefined;
  }

  /** The ids of the targets the query selects at `now`, sorted. */
  select(query: Query, now: Date | number): string[] {
    const ids: string[] = [];
    for (const ordinal of this.evaluate(planQuery(query, nowMillis(now)))) ids.push(this.columns[ordinal]!.id);
    return ids.sort();
  }

  private all(): Set<number> {
    return new Set(this.ordinals.values());
  }

  /** The postings of a field whose value passes one of the tests. */
  private matching(plan: Plan & { kind: 'rows' }): Posting[] {
    const tests = plan.tests.map(valueMatcher);
    const found: Posting[] = [];
    for (const posting of this.fields.get(plan.field)?.values() ?? []) {
      if (posting.targets.size > 0 && tests.some((test) => test(posting.value))) found.push(posting);
    }
    return found;
  }

  private evaluate(plan: Plan): Set<number> {
    switch (plan.kind) {
      case 'const':
        return plan.value ? this.all() : new Set();
      case 'rows': {
        const out = new Set<number>();
        for (const posting of this.matching(plan)) for (const ordinal of posting.targets) out.add(ordinal);
        return out;
      }
      case 'or': {
        const out = new Set<number>();
        for (const item of plan.items) for (const ordinal of this.evaluate(item)) out.add(ordinal);
        return out;
      }
      case 'not': {
        const excluded = this.evaluate(plan.item);
        const out = new Set<number>();
        for (const ordinal of this.ordinals.values()) if (!excluded.has(ordinal)) out.add(ordinal);
        return out;
      }
      case 'and':
        return this.evaluateAnd(plan.items);
      case 'text-column':
      case 'time-column':
      case 'time-column-exists': {
        const test = this.predicate(plan);
        const out = new Set<number>();
        for (const ordinal of this.ordinals.values()) if (test(ordinal)) out.add(ordinal);
        return out;
      }
    }
  }

  /** Walks the candidates of the smallest field condition; checks the rest per target. */
  private evaluateAnd(items: readonly Plan[]): Set<number> {
    let driver: { index: number; postings: Posting[]; count: number } | undefined;
    items.forEach((item, index) => {
      if (item.kind !== 'rows') return;
      const postings = this.matching(item);
      const count = postings.reduce((sum, p) => sum + p.targets.size, 0);
      if (driver === undefined || count < driver.count) driver = { index, postings, count };
    });
    const rest = items.filter((_, index) => index !== driver?.index).map((item) => this.predicate(item));
    const out = new Set<number>();
    const consider = (ordinal: number): void => {
      if (!out.has(ordinal) && rest.every((test) => test(ordinal))) out.add(ordinal);
    };
    if (driver === undefined) for (const ordinal of this.ordinals.values()) consider(ordinal);
    else for (const posting of driver.postings) for (const ordinal of posting.targets) consider(ordinal);
    return out;
  }

  private predicate(plan: Plan): Predicate {
    switch (plan.kind) {
      case 'const':
        return () => plan.value;
      case 'rows': {
        const postings = this.matching(plan);
        return (ordinal) => postings.some((posting) => posting.targets.has(ordinal));
      }
      case 'and': {
        const items = plan.items.map((item) => this.predicate(item));
        return (ordinal) => items.every((item) => item(ordinal));
      }
      case 'or': {
        const items = plan.items.map((item) => this.predicate(item));
        return (ordinal) => items.some((item) => item(ordinal));
      }
      case 'not': {
        const item = this.predicate(plan.item);
        return (ordinal) => !item(ordinal);
      }
      case 'text-column': {
        const tests = plan.tests.map(valueMatcher);
        const column: TextColumn = plan.column;
        return (ordinal) => tests.some((test) => test(this.columns[ordinal]![column]));
      }
      case 'time-column': {
        const column: TimeColumn = plan.column;
        return (ordinal) => {
          const time = this.columns[ordinal]![column];
          return time !== null && compare(plan.op, time, plan.value);
        };
      }
      case 'time-column-exists': {
        const column: TimeColumn = plan.column;
        return (ordinal) => this.columns[ordinal]![column] !== null;
      }
    }
  }
}
