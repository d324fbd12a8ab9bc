-- Policies (docs/policy.md): every version of every policy, never rewritten. The live
-- version of a name is its highest, unless that one is a deletion.
CREATE TABLE policies (
  name        TEXT NOT NULL,
  version     INTEGER NOT NULL CHECK (version >= 1),
  document    TEXT NOT NULL,           -- canonical Policy JSON with metadata.version; a deletion keeps the last one
  digest      TEXT NOT NULL,           -- policyDigest: the canonical document without its version
  deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  changed_at  INTEGER NOT NULL,
  changed_by  TEXT NOT NULL,           -- Actor JSON
  PRIMARY KEY (name, version)
) STRICT;
