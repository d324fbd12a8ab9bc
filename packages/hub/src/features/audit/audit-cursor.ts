import { FlotillaError } from '@flotilla/protocol';

export type AuditOrder = 'asc' | 'desc';

/**
 * The opaque cursor of a query page: the order and the last seq returned. Keyset pagination
 * by seq, so a page is as cheap at the millionth entry as at the first and entries appended
 * while paging do not shift the pages.
 */
export function encodeAuditCursor(order: AuditOrder, seq: number): string {
  return Buffer.from(`v1:${order}:${seq}`).toString('base64url');
}

/** The seq a cursor stands after; refuses a cursor that is malformed or was made for the other order. */
export function decodeAuditCursor(cursor: string, order: AuditOrder): number {
  const match = /^v1:(asc|desc):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const seq = match === null ? Number.NaN : Number(match[2]);
  if (match === null || !Number.isSafeInteger(seq)) {
    throw new FlotillaError(
      'AUDIT_CURSOR_INVALID',
      'the audit cursor is not one this hub issued; pass nextCursor from the previous page unchanged, or omit it to start over',
    );
  }
  if (match[1] !== order) {
    throw new FlotillaError(
      'AUDIT_CURSOR_INVALID',
      `the audit cursor was issued for order ${match[1]}, but this query asks for ${order}; keep the order while paging`,
    );
  }
  return seq;
}
