import { isoTime } from './iso-time.ts';

/** A target's document as JSON text, with its id (for a page's cursor). */
export interface TargetJson {
  readonly id: string;
  readonly json: string;
}

/**
 * Separates the pieces of a page's text: JSON never holds a raw control character (every JSON
 * column is written by `JSON.stringify`, which escapes them, and the quoted columns are escaped
 * by the database's own JSON quoting), so it cannot occur inside a piece.
 */
const SEPARATOR = '\u0001';
const PIECES = 6;

/**
 * The six pieces of a target's document, in SQL over `targets t`, separated by `separator`: its
 * id; its JSON text up to `enrolledAt`, written by the database from the stored JSON columns as
 * they are; its three times in epoch milliseconds (the last seen one empty when never); and its
 * `lastChangedBy`. One `concat`, not a chain of `||`: each `||` copies all it has joined so far.
 * `concat` skips nulls: the drift is absent when null, and so is the time of a target never seen.
 * The id and status go out unquoted: the hub makes every id (`tgt_` and hex digits) and the
 * table's CHECK allows three statuses.
 */
function piecesSql(separator: string, quote: (column: string) => string): string {
  return `concat(t.id, ${separator}, '{"id":"', t.id, '","name":', ${quote('t.name')}, ',"status":"', t.status, '","labels":', t.labels, ',"properties":', t.properties, ',"facts":', t.facts, ',"keyId":', ${quote('t.key_id')}, ',"desired":{"generation":', t.desired_generation, ',"bundles":', t.desired_bundles, '},"observed":', coalesce(t.observed, 'null'), ',"drift":' || t.drift, ${separator}, t.enrolled_at, ${separator}, t.last_seen_at, ${separator}, t.last_changed_at, ${separator}, t.last_changed_by)`;
}

/**
 * The aggregate that writes the documents of the rows of `targets t` a statement selects as one
 * text, for {@link targetPageFromText}: a single value crosses from the database where fifteen
 * columns of each row did, and handing over values, not reading rows, was most of what a page
 * cost. Unordered: ordering a kilobyte per row in the aggregate cost as much again, and the
 * rows mostly come in the order of the ids they were looked up by, which is theirs.
 */
export const TARGET_PAGE_TEXT_SQL = {
  sqlite: `group_concat(${piecesSql('char(1)', (column) => `json_quote(${column})`)}, char(1))`,
  postgres: `string_agg(${piecesSql('chr(1)', (column) => `to_json(${column})::text`)}, chr(1))`,
} as const;

/**
 * The documents of a {@link TARGET_PAGE_TEXT_SQL} text (null when no row matched), in id
 * order. Byte for byte what `JSON.stringify` writes of the documents the store reads
 * (`targetFromRow`): the store writes every JSON column with `JSON.stringify`, and that text
 * parses and writes back to itself (object keys keep their order, numbers and strings their
 * spelling); only the times are formatted here, as `toISOString` would.
 */
export function targetPageFromText(text: string | null | undefined): TargetJson[] {
  if (text === null || text === undefined) return [];
  const pieces = text.split(SEPARATOR);
  const page = new Array<TargetJson>(pieces.length / PIECES);
  let ordered = true;
  for (let row = 0, at = 0; at < pieces.length; row++, at += PIECES) {
    const seen = pieces[at + 3]!;
    if (row > 0 && pieces[at]! < page[row - 1]!.id) ordered = false;
    page[row] = {
      id: pieces[at]!,
      json: `${pieces[at + 1]!},"enrolledAt":"${isoTime(Number(pieces[at + 2]))}","lastSeenAt":${seen === '' ? 'null' : `"${isoTime(Number(seen))}"`},"lastChangedAt":"${isoTime(Number(pieces[at + 4]))}","lastChangedBy":${pieces[at + 5]!}}`,
    };
  }
  return ordered ? page : page.sort((a, b) => (a.id < b.id ? -1 : 1));
}
