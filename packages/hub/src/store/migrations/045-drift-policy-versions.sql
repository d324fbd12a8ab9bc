-- Every drift policy an envelope may name by digest (docs/drift.md, "How envelopes carry the
-- policy"): content addressed and never deleted, like bundles, so that an agent holding an
-- envelope signed before the policy changed can still fetch the policy it names. Written when
-- a policy is set, and for the policy in force (the default too) when the hub starts.
CREATE TABLE drift_policies (
  digest    TEXT PRIMARY KEY,            -- driftPolicyDigest: sha256 of `policy`
  policy    TEXT NOT NULL,               -- the policy's canonical JSON, the bytes served
  stored_at INTEGER NOT NULL             -- epoch milliseconds of the first write
) STRICT;
