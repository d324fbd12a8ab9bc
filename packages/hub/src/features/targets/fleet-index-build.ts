import type { Db } from '../../store/database.ts';
import { dialectOf, forDialect } from '../../store/sql.ts';
import { FleetIndex, type FleetIndexTargets, type FleetIndexValue } from './fleet-index.ts';

/** The length of a target id: `tgt_` and 20 hex digits (TargetId). */
const ID_LENGTH = 24;
const COMMA = 44;

/** Whether `text` has `tgt_`, which every target id starts with (TargetId), at `start`. */
function hasPrefix(text: string, start: number): boolean {
  return (
    text.charCodeAt(start) === 116 &&
    text.charCodeAt(start + 1) === 103 &&
    text.charCodeAt(start + 2) === 116 &&
    text.charCodeAt(start + 3) === 95
  );
}

/** Each UTF-16 code unit's value as a hex digit, -1 for any other (lowercase digits only, as TargetId's). */
const HEX_DIGITS = new Int8Array(65_536).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX_DIGITS['0123456789abcdef'.charCodeAt(digit)] = digit;

/** Five hex digits of `text` from `from` as a number, or -1 when they are not lowercase hex digits. */
function hex5(text: string, from: number): number {
  // A table read per digit rather than comparisons: this runs for every holder id of a build.
  // The callers check that the five are inside the text.
  const d0 = HEX_DIGITS[text.charCodeAt(from)]!;
  const d1 = HEX_DIGITS[text.charCodeAt(from + 1)]!;
  const d2 = HEX_DIGITS[text.charCodeAt(from + 2)]!;
  const d3 = HEX_DIGITS[text.charCodeAt(from + 3)]!;
  const d4 = HEX_DIGITS[text.charCodeAt(from + 4)]!;
  if ((d0 | d1 | d2 | d3 | d4) < 0) return -1;
  return (d0 << 16) | (d1 << 12) | (d2 << 8) | (d3 << 4) | d4;
}

/**
 * Target ids to ordinals (positions in id order) without making a string per id read. Ids of
 * TargetId's shape are kept as their twenty hex digits in four small integers per ordinal, in
 * id order, and an id read is found by searching forward from the ordinal of the one before it:
 * the grouping read lists a value's holders in id order, so that is mostly a step or two over
 * adjacent entries, where a hash table cost a cache miss per id. An id out of order is found by
 * binary search. If any target's id has another shape, every id goes through a Map.
 */
class TargetOrdinals {
  readonly size: number;
  // The id's hex digits 1–5, 6–10, 11–15 and 16–20, per ordinal.
  private readonly pa: Int32Array;
  private readonly pb: Int32Array;
  private readonly pc: Int32Array;
  private readonly pd: Int32Array;
  private readonly others: Map<string, number> | undefined;

  constructor(ids: readonly string[]) {
    this.size = ids.length;
    const parts = [0, 1, 2, 3].map(() => new Int32Array(ids.length)) as unknown as [
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
    ];
    [this.pa, this.pb, this.pc, this.pd] = parts;
    // The search needs the ids in order, which the read that lists them does not promise.
    const standard = ids.every((id, ordinal) => {
      if (id.length !== ID_LENGTH || !hasPrefix(id, 0) || (ordinal > 0 && ids[ordinal - 1]! >= id)) return false;
      for (let part = 0; part < 4; part++) parts[part]![ordinal] = hex5(id, 4 + 5 * part);
      return parts.every((values) => values[ordinal]! >= 0);
    });
    this.others = standard ? undefined : new Map(ids.map((id, ordinal) => [id, ordinal]));
  }

  /**
   * The ordinal of the id at `text[start..end)`, searching first from `from` onwards; -1 for an
   * id no target has.
   */
  find(text: string, start: number, end: number, from: number): number {
    if (this.others !== undefined) return this.others.get(text.slice(start, end)) ?? -1;
    if (end - start !== ID_LENGTH || !hasPrefix(text, start)) return -1;
    const a = hex5(text, start + 4);
    const b = hex5(text, start + 9);
    const c = hex5(text, start + 14);
    const d = hex5(text, start + 19);
    if ((a | b | c | d) < 0) return -1;
    const { pa, pb, pc, pd, size } = this;
    // The answer, if any, is in [low, high]: after `from` by galloping when the id sorts after
    // the one there, else at or before it.
    // Mostly the id of `from` itself: a value most targets hold lists them one after another.
    if (from < size && pa[from] === a && pb[from] === b && pc[from] === c && pd[from] === d) return from;
    let low = 0;
    let high = Math.min(from, size - 1);
    if (from < size && this.before(from, a, b, c, d)) {
      low = from + 1;
      for (let step = 1; ; step *= 2) {
        high = from + step;
        if (high >= size) {
          high = size - 1;
          break;
        }
        if (!this.before(high, a, b, c, d)) break;
        low = high + 1;
      }
    }
    if (low > high) return -1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.before(mid, a, b, c, d)) low = mid + 1;
      else high = mid;
    }
    return pa[low] === a && pb[low] === b && pc[low] === c && pd[low] === d ? low : -1;
  }

  /** Whether the id of ordinal `i` sorts before the id whose parts are `a` to `d`. */
  private before(i: number, a: number, b: number, c: number, d: number): boolean {
    const { pa, pb, pc, pd } = this;
    return pa[i]! < a || (pa[i] === a && (pb[i]! < b || (pb[i] === b && (pc[i]! < c || (pc[i] === c && pd[i]! < d)))));
  }
}

/**
 * PostgreSQL's plan for the grouping read: its index on the values does not hold target_id, so
 * walking it in order fetches every row from the table at random (seconds at 100,000 targets),
 * and its estimate of the groups (a tenth of the rows, against a few thousand distinct values)
 * keeps it from hashing. One pass over the table into a hash table in memory is what suits.
 */
const POSTGRES_GROUPING: readonly [string, string][] = [
  ['enable_indexscan', 'off'],
  ['enable_indexonlyscan', 'off'],
  ['enable_bitmapscan', 'off'],
  ['enable_sort', 'off'],
  ['work_mem', "'128MB'"],
];

const TARGET_COLUMNS = ['id', 'name', 'status', 'last_seen_at', 'last_changed_at', 'enrolled_at'] as const;

/**
 * The targets' own columns, each as one JSON array in id order: a row per target cost
 * better-sqlite3 a microsecond each to hand over, where a few arrays parse in a tenth of that.
 * SQLite aggregates a subquery's rows in the order it reads them (its covering index, in id
 * order) though it does not promise to, so the ids' order is checked where it matters
 * ({@link TargetOrdinals}, and the index's own check); PostgreSQL is told the order.
 *
 * SQLite's covering index leaves out the two times every report and issued envelope moves
 * (migration 047): they are read from their own indexes and matched to the targets by rowid.
 */
function readTargets(db: Db): FleetIndexTargets {
  if (dialectOf(db) === 'postgres') {
    const [ids, names, statuses, lastSeen, lastChanged, enrolled] = arrays<
      [string[], string[], string[], (number | null)[], number[], number[]]
    >(
      db,
      `SELECT ${TARGET_COLUMNS.map((c) => `coalesce(json_agg(${c} ORDER BY id), '[]')::text`).join(', ')} FROM targets`,
    );
    return { ids, names, statuses, lastSeen, lastChanged, enrolled };
  }
  const [rowids, ids, names, statuses, enrolled] = arrays<[number[], string[], string[], string[], number[]]>(
    db,
    'SELECT json_group_array(rowid), json_group_array(id), json_group_array(name), json_group_array(status), json_group_array(enrolled_at) FROM (SELECT rowid, id, name, status, enrolled_at FROM targets ORDER BY id)',
  );
  const position = new Map<number, number>();
  for (let i = 0; i < rowids.length; i++) position.set(rowids[i]!, i);
  const lastSeen = timeByPosition<number | null>(db, 'last_seen_at', position);
  const lastChanged = timeByPosition<number>(db, 'last_changed_at', position);
  return { ids, names, statuses, lastSeen, lastChanged, enrolled };
}

/** The arrays of a query that answers each column as one JSON array. */
function arrays<T extends unknown[][]>(db: Db, sql: string): T {
  return (db.prepare(sql).raw().get() as string[]).map((json) => JSON.parse(json) as unknown[]) as T;
}

/** One of the targets' times, read from its own index (in time order), at each target's position in id order. */
function timeByPosition<T extends number | null>(
  db: Db,
  column: 'last_seen_at' | 'last_changed_at',
  position: ReadonlyMap<number, number>,
): T[] {
  const [rowids, times] = arrays<[number[], T[]]>(
    db,
    `SELECT json_group_array(rowid), json_group_array(${column}) FROM (SELECT rowid, ${column} FROM targets ORDER BY ${column})`,
  );
  const out = new Array<T>(position.size);
  for (let i = 0; i < rowids.length; i++) out[position.get(rowids[i]!)!] = times[i]!;
  return out;
}

/** A distinct field value as the grouping read returns it, its holders' ids joined by commas. */
type GroupedValue = [string, string, number | null, string | null, number | null, string];

/**
 * Builds the fleet index from the store in reads that SQLite answers from covering indexes
 * (migrations 041 and 047), without a row per target and field reaching JavaScript: the targets' own
 * columns in id order ({@link readTargets}), then each distinct field value with the ids of its holders
 * (`group_concat`, PostgreSQL's `string_agg`), turned into ordinals by {@link TargetOrdinals}.
 * All of them are one read transaction, so they see the same fleet.
 *
 * The values are decoded as they arrive, each into one reused buffer of ordinals: holding every
 * value's id list at once (50 MB of text at 100,000 targets) and an array of ordinals per value
 * made the build spend a good part of its time collecting garbage.
 */
export function buildFleetIndexFromStore(db: Db): FleetIndex {
  const build = db.transaction(() => {
    const targets = readTargets(db);
    const postgres = dialectOf(db) === 'postgres';
    if (postgres) db.exec(POSTGRES_GROUPING.map(([name, value]) => `SET LOCAL ${name} = ${value}`).join('; '));
    const grouped = db
      .prepare(
        `SELECT field, text_value, num_value, version_key, time_value, ${forDialect(db, { sqlite: 'group_concat(target_id)', postgres: "string_agg(target_id, ',')" })} FROM target_fields GROUP BY field, text_value, num_value, version_key, time_value`,
      )
      .raw()
      .iterate() as IterableIterator<GroupedValue>;
    const index = FleetIndex.fromValues(targets, decodeValues(grouped, new TargetOrdinals(targets.ids)));
    // Inside a caller's transaction (this read is then a savepoint) the settings would outlast it.
    if (postgres) db.exec(POSTGRES_GROUPING.map(([name]) => `SET LOCAL ${name} TO DEFAULT`).join('; '));
    return index;
  });
  return build.deferred();
}

/**
 * The grouped values with their holders as ordinals, one at a time: each value's holders are in
 * the same buffer, valid until the next value is asked for ({@link FleetIndex.fromValues} copies
 * them into its columns at once). A target holds a value at most once, so the buffer of one
 * ordinal per target holds any value's.
 */
function* decodeValues(grouped: Iterable<GroupedValue>, table: TargetOrdinals): Generator<FleetIndexValue> {
  const buffer = new Int32Array(Math.max(1, table.size));
  for (const [field, text, num, version, time, holderIds] of grouped) {
    let count = 0;
    let from = 0;
    for (let start = 0; start < holderIds.length;) {
      // Ids are of one length, so the next comma is where one ends; look for it otherwise.
      const fixed = start + ID_LENGTH;
      const comma =
        fixed === holderIds.length || holderIds.charCodeAt(fixed) === COMMA ? fixed : holderIds.indexOf(',', start);
      const end = comma === -1 ? holderIds.length : comma;
      const ordinal = table.find(holderIds, start, end, from);
      if (ordinal !== -1) {
        buffer[count++] = ordinal;
        from = ordinal + 1;
      }
      start = end + 1;
    }
    yield { field, text, num, version, time, holders: buffer.subarray(0, count) };
  }
}
