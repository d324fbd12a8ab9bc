import type { Target } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';
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
    this.s = {
      fieldKeys: db.prepare<[string], FieldKey>(
        'SELECT target_id AS id, coalesce(version_key, text_value) AS key FROM target_fields WHERE field = ?',
      ),
      rowsByIds: db.prepare<[string], TargetRow>('SELECT t.* FROM json_each(?) j JOIN targets t ON t.id = j.value'),
      values: db.prepare<[string, string, string, number], ValueCount>(
        'SELECT text_value AS value, count(*) AS n FROM target_fields WHERE field = ? AND text_value >= ? AND text_value < ? GROUP BY text_value ORDER BY n DESC, value LIMIT ?',
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

  /** The most common values of a field that start with `prefix`. */
  values(field: string, prefix: string, limit: number): ValueCount[] {
    return this.s.values.all(field, prefix, `${prefix}\u{10FFFF}`, limit);
  }

  /** Target names starting with `prefix`, in order. */
  names(prefix: string, limit: number): string[] {
    return this.s.names.all(prefix, `${prefix}\u{10FFFF}`, limit).map((r) => r.value);
  }
}
