import type { Db } from '../src/store/database.ts';

/**
 * A target row as enrollment leaves it, for store tests whose tables refer to targets: the
 * columns without defaults, set to plain values unless given.
 */
export function insertTarget(
  db: Db,
  target: {
    readonly id: string;
    readonly name?: string;
    readonly status?: 'active' | 'disabled' | 'revoked';
    readonly lastSeenAt?: number | null;
    readonly drift?: string | null;
  },
): void {
  db.prepare(
    `INSERT INTO targets (id, name, status, public_key, key_id, enrolled_at, last_seen_at, last_changed_at, last_changed_by, drift)
     VALUES (@id, @name, @status, @publicKey, @keyId, 1000, @lastSeenAt, 1000, 'test', @drift)`,
  ).run({
    id: target.id,
    name: target.name ?? target.id,
    status: target.status ?? 'active',
    publicKey: `pk-${target.id}`,
    keyId: `key-${target.id}`,
    lastSeenAt: target.lastSeenAt ?? null,
    drift: target.drift ?? null,
  });
}
