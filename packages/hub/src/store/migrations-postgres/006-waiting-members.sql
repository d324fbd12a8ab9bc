-- SQLite migration 042: the waiting members of a wave, in the order batches issue them.
DROP INDEX rollout_members_unissued;
CREATE INDEX rollout_members_waiting ON rollout_members (rollout_id, joined_at, target_id) WHERE issued = 0;

-- A member recorded waiting is told at once that its desired state is about to change, on every
-- replica: its agent's stream or long-poll may be held by any of them, and its fetch issues the
-- envelope wherever it lands (docs/scale-out.md). So is every waiting member of a paused rollout
-- when it runs again. The topic is the one a new envelope writes, whose wake tells the agents.
CREATE FUNCTION replica_member_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO replica_changes (topic, key, origin)
    VALUES ('target-envelope', NEW.target_id, current_setting('flotilla.replica', true));
  PERFORM pg_notify('flotilla_changes', '');
  RETURN NULL;
END $$;
CREATE TRIGGER replica_rollout_members_waiting AFTER INSERT ON rollout_members
  FOR EACH ROW WHEN (NEW.issued = 0) EXECUTE FUNCTION replica_member_waiting();

CREATE FUNCTION replica_rollout_resumed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO replica_changes (topic, key, origin)
    SELECT 'target-envelope', target_id, current_setting('flotilla.replica', true)
    FROM rollout_members WHERE rollout_id = NEW.id AND issued = 0;
  PERFORM pg_notify('flotilla_changes', '');
  RETURN NULL;
END $$;
CREATE TRIGGER replica_rollouts_resumed AFTER UPDATE OF state ON rollouts
  FOR EACH ROW WHEN (OLD.state = 'paused' AND NEW.state = 'running') EXECUTE FUNCTION replica_rollout_resumed();
