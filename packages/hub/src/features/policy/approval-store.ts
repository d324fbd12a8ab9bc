import type { ApprovalAction, SignedApproval } from '@flotilla/protocol/policy';
import type { Db } from '../../store/database.ts';

/** One recorded approval. */
export interface ApprovalRecord {
  readonly rolloutId: string;
  readonly action: ApprovalAction;
  readonly approver: string;
  readonly keyId: string;
  readonly signed: SignedApproval;
  readonly recordedAt: number;
  readonly recordedBy: string;
}

interface ApprovalRow {
  rollout_id: string;
  action: ApprovalAction;
  approver: string;
  key_id: string;
  signed: string;
  recorded_at: number;
  recorded_by: string;
}

/** Signed approvals of rollouts, as received: appended, never changed. */
export class ApprovalStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO rollout_approvals (rollout_id, seq, action, approver, key_id, signed, recorded_at, recorded_by)
         VALUES (@rolloutId, (SELECT coalesce(max(seq), 0) + 1 FROM rollout_approvals WHERE rollout_id = @rolloutId), @action, @approver, @keyId, @signed, @recordedAt, @recordedBy)`,
      ),
      list: db.prepare<[string], ApprovalRow>('SELECT * FROM rollout_approvals WHERE rollout_id = ? ORDER BY seq'),
      stamp: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM rollout_approvals WHERE rollout_id = ?'),
    };
  }

  insert(record: ApprovalRecord): void {
    this.s.insert.run({ ...record, signed: JSON.stringify(record.signed) });
  }

  list(rolloutId: string): ApprovalRecord[] {
    return this.s.list.all(rolloutId).map((row) => ({
      rolloutId: row.rollout_id,
      action: row.action,
      approver: row.approver,
      keyId: row.key_id,
      signed: JSON.parse(row.signed) as SignedApproval,
      recordedAt: row.recorded_at,
      recordedBy: row.recorded_by,
    }));
  }

  /** How many approvals a rollout has: changes whenever one is added. */
  count(rolloutId: string): number {
    return this.s.stamp.get(rolloutId)!.n;
  }
}
