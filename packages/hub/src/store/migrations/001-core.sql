-- Hub identity and keys that live with the hub (the hub signing key; root keys in demo setups).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE trust_roots (
  version INTEGER PRIMARY KEY,
  signed  TEXT NOT NULL              -- SignedTrustRoot JSON
) STRICT;

CREATE TABLE api_tokens (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  token_hash  TEXT NOT NULL UNIQUE,  -- sha256 of the secret; the secret itself is never stored
  role        TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
  selector    TEXT,                  -- optional fleet query limiting what the token reaches
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
) STRICT;

CREATE TABLE enrollment_tokens (
  id          TEXT PRIMARY KEY,
  token_hash  TEXT NOT NULL UNIQUE,
  labels      TEXT NOT NULL,         -- JSON object preset on every target enrolled with it
  description TEXT,
  max_uses    INTEGER NOT NULL,
  uses        INTEGER NOT NULL DEFAULT 0,
  expires_at  INTEGER NOT NULL,      -- epoch milliseconds
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL
) STRICT;

-- One row per target. JSON columns hold documents; the columns queries filter on are plain.
CREATE TABLE targets (
  id                 TEXT PRIMARY KEY,   -- tgt_ + 20 hex, never reused
  name               TEXT NOT NULL UNIQUE,
  status             TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  public_key         TEXT NOT NULL,      -- base64url Ed25519 key the agent proved it holds
  key_id             TEXT NOT NULL,
  labels             TEXT NOT NULL DEFAULT '{}',
  properties         TEXT NOT NULL DEFAULT '{}',
  facts              TEXT NOT NULL DEFAULT '{}',
  desired_generation INTEGER NOT NULL DEFAULT 0,
  desired_bundles    TEXT NOT NULL DEFAULT '[]',  -- ReleaseRef[]
  envelope           TEXT,                        -- SignedEnvelope JSON of desired_generation
  observed           TEXT,                        -- last report summary JSON, or NULL
  observed_seq       INTEGER NOT NULL DEFAULT 0,
  enrolled_at        INTEGER NOT NULL,
  last_seen_at       INTEGER,
  last_changed_at    INTEGER NOT NULL,
  last_changed_by    TEXT NOT NULL                -- Actor JSON
) STRICT;

-- Used assertion ids, kept until the assertion would have expired anyway.
CREATE TABLE used_jtis (
  jti        TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);

CREATE TABLE bundles (
  digest     TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  version    TEXT NOT NULL,
  signed     TEXT NOT NULL,            -- SignedBundle JSON
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  UNIQUE (name, version)
) STRICT;

CREATE TABLE reports (
  target_id   TEXT NOT NULL REFERENCES targets (id),
  seq         INTEGER NOT NULL,
  generation  INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  signed      TEXT NOT NULL,            -- SignedReport JSON, kept as the agent signed it
  PRIMARY KEY (target_id, seq)
) STRICT, WITHOUT ROWID;
