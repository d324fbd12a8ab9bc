-- The agent keys each target rotated away from (docs/security.md, docs/air-gap.md). A reports
-- file carried across an air gap may be signed by a key the agent has rotated away from since;
-- the hub takes such reports only from before the rotation: up to the last report it held
-- then (the agent rotates only once its journal is sent), and observed no later than then.
CREATE TABLE retired_agent_keys (
  target_id   TEXT NOT NULL REFERENCES targets (id),
  key_id      TEXT NOT NULL,
  public_key  TEXT NOT NULL,
  until_seq   INTEGER NOT NULL,          -- the highest seq the hub held at the rotation
  retired_at  INTEGER NOT NULL,          -- the rotation, ms since the epoch
  PRIMARY KEY (target_id, key_id)
) STRICT, WITHOUT ROWID;

-- The newest trust-root version each site holds, as its last reports file said: the next
-- transfer file carries only the versions after it.
ALTER TABLE offline_targets ADD COLUMN trust_root_version INTEGER;
