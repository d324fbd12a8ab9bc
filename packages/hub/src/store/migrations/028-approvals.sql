-- Signed approvals of rollouts (docs/policy.md, "Approvals"): kept as the approver signed
-- them, so the hub can carry them to agents and nobody has to trust the hub's word.
CREATE TABLE rollout_approvals (
  rollout_id  TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('approve', 'override-window')),
  approver    TEXT NOT NULL,          -- the identity the approval names, normalized
  key_id      TEXT NOT NULL,
  signed      TEXT NOT NULL,          -- SignedApproval JSON, as received
  recorded_at INTEGER NOT NULL,
  recorded_by TEXT NOT NULL,          -- the API token's name
  PRIMARY KEY (rollout_id, seq)
) STRICT;
