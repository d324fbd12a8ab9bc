import type { TargetFieldRow } from '@flotilla/protocol/query';

/**
 * The statements that keep `target_fields` (migration 003) in step with `targets`. On every
 * write of a target, in the same transaction: run `delete` with the target id, then `insert`
 * once per row of `targetFieldRows` with {@link targetFieldRowParams}. Run `delete`
 * alone when the target itself is deleted.
 */
export const targetFieldsSql = {
  delete: 'DELETE FROM target_fields WHERE target_id = ?',
  insert:
    'INSERT INTO target_fields (target_id, field, text_value, num_value, version_key, time_value) VALUES (?, ?, ?, ?, ?, ?)',
} as const;

/** The parameters of `targetFieldsSql.insert` for one row. */
export function targetFieldRowParams(
  targetId: string,
  row: TargetFieldRow,
): [string, string, string, number | null, string | null, number | null] {
  return [targetId, row.field, row.text, row.num, row.version, row.time];
}
