import { createHash } from 'node:crypto';
import { FlotillaError, TargetId } from '@flotilla/protocol';
import { formatQuery, type Query } from '@flotilla/protocol/query';

/** Where a page of a fleet query ends: the last id returned and the instant the query is evaluated at. */
export interface TargetCursor {
  readonly after: string;
  /** Epoch milliseconds that `now` in the query's relative times stands for, on every page. */
  readonly now: number;
}

const CURSOR = /^t1:(\d{1,16}):(tgt_[0-9a-f]{20}):([0-9a-f]{8})$/;
const LATEST_INSTANT = 8.64e15;

/** Tags by query: a query text asked again is parsed once (`FleetQuery`), so its pages share one query. */
const tags = new WeakMap<Query, string>();

/** Eight hex digits naming the query in its canonical form, so that respelling it keeps the cursor valid. */
function queryTag(query: Query | undefined): string {
  if (query === undefined) return tagOf('');
  let tag = tags.get(query);
  if (tag === undefined) {
    tag = tagOf(formatQuery(query));
    tags.set(query, tag);
  }
  return tag;
}

function tagOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex').slice(0, 8);
}

/**
 * The opaque `next` of a target page. It carries the instant the first page fixed for the
 * query's relative times, so that `now-45s` means the same on every page and the pages add
 * up to the total the first one reported.
 */
export function encodeTargetCursor(cursor: TargetCursor, query: Query | undefined): string {
  return Buffer.from(`t1:${cursor.now}:${cursor.after}:${queryTag(query)}`).toString('base64url');
}

/**
 * Reads a cursor made by {@link encodeTargetCursor} for the same query (in any spelling).
 *
 * @throws FlotillaError `QUERY_CURSOR_INVALID` for anything else.
 */
export function decodeTargetCursor(text: string, query: Query | undefined): TargetCursor {
  const match = CURSOR.exec(Buffer.from(text, 'base64url').toString('utf8'));
  const now = match === null ? Number.NaN : Number(match[1]);
  if (match === null || !(now <= LATEST_INSTANT) || !TargetId.safeParse(match[2]).success) {
    throw new FlotillaError(
      'QUERY_CURSOR_INVALID',
      'the cursor is not one this hub issued; pass next from the previous page unchanged as after, or omit after to start over',
    );
  }
  if (match[3] !== queryTag(query)) {
    throw new FlotillaError(
      'QUERY_CURSOR_INVALID',
      'the cursor was issued for another query; keep the query while paging, or omit after to start over',
    );
  }
  return { after: match[2]!, now };
}
