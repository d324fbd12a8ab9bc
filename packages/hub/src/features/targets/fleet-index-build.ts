import type { Db } from '../../store/database.ts';
import { dialectOf, forDialect } from '../../store/sql.ts';
import { FleetIndex, type FleetIndexRow, type FleetIndexValue } from './fleet-index.ts';

/** The length of a target id: `tgt_` and 20 hex digits (TargetId). */
const ID_LENGTH = 24;
const COMMA = 44;

/** The last eight hex digits of `text[start..end)` as a number, or -1 when they are not hex digits. */
function tailHash(text: string, end: number): number {
  let value = 0;
  for (let i = end - 8; i < end; i++) {
    const code = text.charCodeAt(i);
    const digit = code >= 48 && code <= 57 ? code - 48 : code >= 97 && code <= 102 ? code - 87 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Target ids to ordinals without making a string per id read: ids end in random hex digits,
 * so their last eight are the hash of an open-addressing table, and a candidate is confirmed by
 * comparing the id in place (`startsWith` at an offset). Ids of another shape go through a Map.
 */
class OrdinalTable {
  private readonly ids: readonly string[];
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly others = new Map<string, number>();

  constructor(ids: readonly string[]) {
    this.ids = ids;
    let size = 1024;
    while (size < ids.length * 2) size *= 2;
    this.mask = size - 1;
    this.slots = new Int32Array(size).fill(-1);
    ids.forEach((id, ordinal) => {
      const hash = id.length < 8 ? -1 : tailHash(id, id.length);
      if (hash < 0) {
        this.others.set(id, ordinal);
        return;
      }
      let slot = hash & this.mask;
      while (this.slots[slot] !== -1) slot = (slot + 1) & this.mask;
      this.slots[slot] = ordinal;
    });
  }

  /** The ordinal of the id at `text[start..end)`; -1 for an id the table does not hold. */
  find(text: string, start: number, end: number): number {
    const hash = end - start < 8 ? -1 : tailHash(text, end);
    if (hash < 0) return this.others.get(text.slice(start, end)) ?? -1;
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const ordinal = this.slots[slot]!;
      if (ordinal === -1) return -1;
      const id = this.ids[ordinal]!;
      if (id.length === end - start && text.startsWith(id, start)) return ordinal;
    }
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

/**
 * Builds the fleet index from the store in two reads that SQLite answers from covering indexes
 * (migration 037), without a row per target and field reaching JavaScript: the targets' own
 * columns in id order, then each distinct field value with the ids of its holders
 * (`group_concat`, PostgreSQL's `string_agg`), turned into ordinals by {@link OrdinalTable}.
 * Both reads are one read transaction, so they see the same fleet.
 */
export function buildFleetIndexFromStore(db: Db): FleetIndex {
  const read = db.transaction(() => {
    const targets = db
      .prepare('SELECT id, name, status, last_seen_at, last_changed_at, enrolled_at FROM targets ORDER BY id')
      .raw()
      .all() as FleetIndexRow[];
    const postgres = dialectOf(db) === 'postgres';
    if (postgres) db.exec(POSTGRES_GROUPING.map(([name, value]) => `SET LOCAL ${name} = ${value}`).join('; '));
    const values = db
      .prepare(
        `SELECT field, text_value, num_value, version_key, time_value, ${forDialect(db, { sqlite: 'group_concat(target_id)', postgres: "string_agg(target_id, ',')" })} FROM target_fields GROUP BY field, text_value, num_value, version_key, time_value`,
      )
      .raw()
      .all() as [string, string, number | null, string | null, number | null, string][];
    // Inside a caller's transaction (this read is then a savepoint) the settings would outlast it.
    if (postgres) db.exec(POSTGRES_GROUPING.map(([name]) => `SET LOCAL ${name} TO DEFAULT`).join('; '));
    return { targets, values };
  });
  const { targets, values } = read.deferred();
  const table = new OrdinalTable(targets.map((row) => row[0]));
  return FleetIndex.fromValues(
    targets,
    values.map(([field, text, num, version, time, holderIds]): FleetIndexValue => {
      const holders: number[] = [];
      for (let start = 0; start < holderIds.length;) {
        // Ids are of one length, so the next comma is where one ends; look for it otherwise.
        const fixed = start + ID_LENGTH;
        const comma =
          fixed === holderIds.length || holderIds.charCodeAt(fixed) === COMMA ? fixed : holderIds.indexOf(',', start);
        const end = comma === -1 ? holderIds.length : comma;
        const ordinal = table.find(holderIds, start, end);
        if (ordinal !== -1) holders.push(ordinal);
        start = end + 1;
      }
      return { field, text, num, version, time, holders };
    }),
  );
}
