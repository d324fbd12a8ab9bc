import { randomFillSync } from 'node:crypto';

const SALT_BYTES = 16;
const pool = Buffer.allocUnsafe(SALT_BYTES * 256);
let offset = pool.length;

/**
 * A fresh 16-byte salt for an audit entry, base64url. Drawn from a pool refilled 256 salts at
 * a time, because a call into the system's random source per append costs more than the rest
 * of building the entry.
 */
export function nextAuditSalt(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const salt = pool.toString('base64url', offset, offset + SALT_BYTES);
  offset += SALT_BYTES;
  return salt;
}
