import type { SignedPolicySet } from '@flotilla/protocol/policy';
import type { Db } from '../../store/database.ts';

/** Published policy sets, each version once, as signed. */
export class PolicySetStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare('INSERT INTO policy_sets (version, signed, published_at, published_by) VALUES (?, ?, ?, ?)'),
      latest: db.prepare<[], { signed: string }>('SELECT signed FROM policy_sets ORDER BY version DESC LIMIT 1'),
    };
  }

  insert(signed: SignedPolicySet, publishedAt: number, publishedBy: string): void {
    this.s.insert.run(signed.policySet.version, JSON.stringify(signed), publishedAt, publishedBy);
  }

  /** The newest published set. */
  latest(): SignedPolicySet | undefined {
    const row = this.s.latest.get();
    return row === undefined ? undefined : (JSON.parse(row.signed) as SignedPolicySet);
  }
}
