import type { Db } from '../../store/database.ts';

/** A key a target rotated away from, and the reports it still vouches for. */
export interface RetiredKey {
  readonly keyId: string;
  readonly publicKey: string;
  /** The highest report seq the hub held when the key was rotated away. */
  readonly untilSeq: number;
  /** When it was rotated away, ms since the epoch. */
  readonly retiredAt: number;
}

interface Row {
  key_id: string;
  public_key: string;
  until_seq: number;
  retired_at: number;
}

/** The history of each target's agent keys: every key it rotated away from, oldest first. */
export class RetiredKeyStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      retire: db.prepare(
        'INSERT INTO retired_agent_keys (target_id, key_id, public_key, until_seq, retired_at) VALUES (@targetId, @keyId, @publicKey, @untilSeq, @retiredAt) ON CONFLICT DO NOTHING',
      ),
      ofTarget: db.prepare<[string], Row>(
        'SELECT key_id, public_key, until_seq, retired_at FROM retired_agent_keys WHERE target_id = ? ORDER BY retired_at, key_id',
      ),
    };
  }

  /** Records that `targetId` rotated away from a key; a key is retired once, the first record kept. */
  retire(targetId: string, key: RetiredKey): void {
    this.s.retire.run({ targetId, ...key });
  }

  /** The keys `targetId` rotated away from. */
  ofTarget(targetId: string): RetiredKey[] {
    return this.s.ofTarget
      .all(targetId)
      .map((r) => ({ keyId: r.key_id, publicKey: r.public_key, untilSeq: r.until_seq, retiredAt: r.retired_at }));
  }
}
