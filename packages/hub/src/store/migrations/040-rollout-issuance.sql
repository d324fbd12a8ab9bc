-- A wave's envelopes are issued after its membership commits, in batches that yield to the
-- event loop (docs/rollouts.md, "How a wave reaches its targets"). A member is recorded with
-- `issued = 0` in the transaction that starts its wave; the batch that signs its envelope sets
-- `generation`, `previous` and `issued = 1` in the same transaction, so a hub killed between
-- batches issues exactly the members left at 0 when it starts again. Rows from before this
-- migration were issued with their wave.
ALTER TABLE rollout_members ADD COLUMN issued INTEGER NOT NULL DEFAULT 1 CHECK (issued IN (0, 1));
-- The members still waiting for their envelope: small, and empty between rollouts.
CREATE INDEX rollout_members_unissued ON rollout_members (rollout_id, target_id) WHERE issued = 0;

-- What changed about rollout members since the controller last looked: a report, a new
-- desired generation or a status change of a target that is a member of a running or paused
-- rollout, and a member recorded, issued, rolled back or forgotten. The controller keeps its members classified in memory and re-reads
-- only these targets on each pass, instead of every member of an 18,000-target rollout; it
-- deletes the rows it has read. AUTOINCREMENT keeps the numbers rising even when the table is
-- empty, so its cursor never sees a number again.
CREATE TABLE rollout_member_changes (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  target_id TEXT NOT NULL
);
CREATE TRIGGER rollout_member_target_changed
  AFTER UPDATE OF observed_seq, desired_generation, status ON targets
  WHEN EXISTS (
    SELECT 1 FROM rollout_members m JOIN rollouts r ON r.id = m.rollout_id
    WHERE m.target_id = NEW.id AND r.state IN ('running', 'paused')
  )
BEGIN
  INSERT INTO rollout_member_changes (target_id) VALUES (NEW.id);
END;
CREATE TRIGGER rollout_member_recorded AFTER INSERT ON rollout_members
BEGIN
  INSERT INTO rollout_member_changes (target_id) VALUES (NEW.target_id);
END;
CREATE TRIGGER rollout_member_updated AFTER UPDATE ON rollout_members
BEGIN
  INSERT INTO rollout_member_changes (target_id) VALUES (NEW.target_id);
END;
CREATE TRIGGER rollout_member_forgotten AFTER DELETE ON rollout_members
BEGIN
  INSERT INTO rollout_member_changes (target_id) VALUES (OLD.target_id);
END;
