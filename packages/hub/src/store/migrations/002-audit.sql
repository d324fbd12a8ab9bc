-- The audit trail: one append-only hash chain (docs/audit-format.md). Only the AuditLog
-- service writes these tables; the triggers below make the chain's rules hold even for code
-- that bypasses it.

-- One row per entry. `entry` is the AuditEntry JSON exactly as it is hashed and exported;
-- the other columns are copies for the queries to filter on.
CREATE TABLE audit_entries (
  seq        INTEGER PRIMARY KEY,     -- 1, 2, 3, … with no gap above the prune anchor
  time_ms    INTEGER NOT NULL,        -- epoch milliseconds, never decreasing with seq
  actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'agent', 'system')),
  actor_id   TEXT NOT NULL,
  action     TEXT NOT NULL,
  outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'refused', 'failure')),
  hash       TEXT NOT NULL,           -- the entry's hash, which the next entry's prev_hash repeats
  prev_hash  TEXT NOT NULL,
  entry      TEXT NOT NULL
) STRICT;

-- Time is monotonic in seq, so a time range is found by index and becomes a seq range.
CREATE INDEX audit_entries_time ON audit_entries (time_ms);
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
CREATE INDEX audit_entries_outcome ON audit_entries (outcome, seq);

-- Which targets each entry names: a target's history is a range scan of the primary key.
CREATE TABLE audit_subjects (
  target_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  PRIMARY KEY (target_id, seq)
) STRICT, WITHOUT ROWID;
-- For pruning, which removes by seq.
CREATE INDEX audit_subjects_seq ON audit_subjects (seq);

-- Signed statements "entry seq has hash h", made on an interval, at every export and at
-- every prune. `signed` is the SignedAuditCheckpoint JSON; `public_key` lets an export carry
-- the key of every checkpoint it includes, across hub key rotations.
CREATE TABLE audit_checkpoints (
  id         INTEGER PRIMARY KEY,
  seq        INTEGER NOT NULL,
  hash       TEXT NOT NULL,
  reason     TEXT NOT NULL CHECK (reason IN ('interval', 'export', 'prune', 'manual')),
  key_id     TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  signed     TEXT NOT NULL
) STRICT;
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);

-- One row per prune: entries up to and including `seq` were removed, and the signed
-- checkpoint over (seq, hash) vouches for the first remaining entry's prev_hash. The row
-- with the highest seq is the current start of the log.
CREATE TABLE audit_anchors (
  seq        INTEGER PRIMARY KEY,
  hash       TEXT NOT NULL,
  time_ms    INTEGER NOT NULL,        -- the time of entry seq, so that time stays monotonic
  removed    INTEGER NOT NULL,        -- how many entries this prune removed
  pruned_ms  INTEGER NOT NULL,
  signed     TEXT NOT NULL            -- the anchoring SignedAuditCheckpoint JSON
) STRICT;

-- An entry must extend the chain: its prev_hash is the hash of entry seq - 1 and its time is
-- no earlier than that entry's; or, right after a prune, the same of the latest anchor; or it
-- is entry 1 of a log never pruned, linked to the genesis hash. Written so that the common
-- case costs one primary-key lookup.
CREATE TRIGGER audit_entries_extend BEFORE INSERT ON audit_entries
BEGIN
  SELECT RAISE(ABORT, 'audit entry does not extend the chain: seq must follow the head, prev_hash must be its hash, and time must not go back')
  WHERE NOT EXISTS (SELECT 1 FROM audit_entries p WHERE p.seq = NEW.seq - 1 AND p.hash = NEW.prev_hash AND p.time_ms <= NEW.time_ms)
    AND NOT EXISTS (SELECT 1 FROM audit_anchors a WHERE a.seq = NEW.seq - 1 AND a.hash = NEW.prev_hash AND a.time_ms <= NEW.time_ms
                      AND a.seq = (SELECT max(seq) FROM audit_anchors))
    AND NOT (NEW.seq = 1 AND NEW.prev_hash = 'sha256:0000000000000000000000000000000000000000000000000000000000000000'
             AND NOT EXISTS (SELECT 1 FROM audit_anchors));
END;

CREATE TRIGGER audit_entries_immutable BEFORE UPDATE ON audit_entries
BEGIN
  SELECT RAISE(ABORT, 'audit entries are append-only');
END;

-- Entries leave only by pruning, and only behind an anchor that vouches for what remains.
CREATE TRIGGER audit_entries_prune_only BEFORE DELETE ON audit_entries
WHEN OLD.seq > coalesce((SELECT max(seq) FROM audit_anchors), 0)
BEGIN
  SELECT RAISE(ABORT, 'audit entries are removed only by pruning behind a signed anchor');
END;
