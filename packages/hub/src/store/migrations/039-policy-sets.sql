-- Signed policy sets (docs/policy.md, "Signed policy sets"): the live policies as one
-- versioned document signed by the trust root's policy keys, away from the hub; kept as
-- signed, each version once.
CREATE TABLE policy_sets (
  version      INTEGER PRIMARY KEY,
  signed       TEXT NOT NULL,          -- SignedPolicySet JSON, as published
  published_at INTEGER NOT NULL,
  published_by TEXT NOT NULL          -- the API token's name
) STRICT;
