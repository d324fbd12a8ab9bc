import type { Target } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';
import { forDialect } from '../../store/sql.ts';
import { targetFromRow, type TargetRow } from './target-store.ts';

/** A field's value per target, as a sort key: versions by their ordering key, the rest as text. */
export interface FieldKey {
  readonly id: string;
  readonly key: string;
}

/** A distinct stored value of a field and how many targets hold it. */
export interface ValueCount {
  readonly value: string;
  readonly n: number;
}

/** The SQL behind browsing the fleet: sort keys, rows by id, and values for completion. */
export class TargetBrowseStore {
  private readonly s;

  constructor(db: Db) {
    // The ids a statement is limited to arrive as one JSON array parameter.
    const ids = forDialect(db, { sqlite: 'json_each(?) j', postgres: 'json_array_elements_text(?::json) j(value)' });
    this.s = {
      fieldKeys: db.prepare<[string], FieldKey>(
        'SELECT target_id AS id, coalesce(version_key, text_value) AS key FROM target_fields WHERE field = ?',
      ),
      rowsByIds: db.prepare<[string], TargetRow>(`SELECT t.* FROM ${ids} JOIN targets t ON t.id = j.value`),
      values: db.prepare<[string, string, string, number], ValueCount>(
        'SELECT text_value AS value, count(*) AS n FROM target_fields WHERE field = ? AND text_value >= ? AND text_value < ? GROUP BY text_value ORDER BY n DESC, value LIMIT ?',
      ),
      valuesAmong: db.prepare<[string, string, string, string, number], ValueCount>(
        `SELECT f.text_value AS value, count(*) AS n FROM ${ids} JOIN target_fields f ON f.target_id = j.value WHERE f.field = ? AND f.text_value >= ? AND f.text_value < ? GROUP BY f.text_value ORDER BY n DESC, value LIMIT ?`,
      ),
      namesAmong: db.prepare<[string, string, string, number], { value: string }>(
        `SELECT t.name AS value FROM ${ids} JOIN targets t ON t.id = j.value WHERE t.name >= ? AND t.name < ? ORDER BY t.name LIMIT ?`,
      ),
      names: db.prepare<[string, string, number], { value: string }>(
        'SELECT name AS value FROM targets WHERE name >= ? AND name < ? ORDER BY name LIMIT ?',
      ),
    };
  }

  /** Every target's value of a stored field (several rows for a target with several values). */
  fieldKeys(field: string): FieldKey[] {
    return this.s.fieldKeys.all(field);
  }

  /** These targets, in no particular order. */
  targets(ids: readonly string[]): Target[] {
    return this.s.rowsByIds.all(JSON.stringify(ids)).map(targetFromRow);
  }

  /** The most common values of a field that start with `prefix`, among `among` targets when given. */
  values(field: string, prefix: string, limit: number, among?: readonly string[]): ValueCount[] {
    const end = `${prefix}\u{10FFFF}`;
    return among === undefined
      ? this.s.values.all(field, prefix, end, limit)
      : this.s.valuesAmong.all(JSON.stringify(among), field, prefix, end, limit);
  }

  /** Target names starting with `prefix`, in order, among `among` targets when given. */
  names(prefix: string, limit: number, among?: readonly string[]): string[] {
    const end = `${prefix}\u{10FFFF}`;
    const rows =
      among === undefined
        ? this.s.names.all(prefix, end, limit)
        : this.s.namesAmong.all(JSON.stringify(among), prefix, end, limit);
    return rows.map((r) => r.value);
  }
}
