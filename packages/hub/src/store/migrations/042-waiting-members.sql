-- A wave's waiting members (`issued = 0`, migration 040) are issued on their agent's fetch, or
-- by a batch once they have waited their grace period (docs/rollouts.md, "How a wave reaches
-- its targets"). Batches take the members due, oldest first, and need to know when the next one
-- falls due: both are a seek on this index, where the one it replaces had to read every waiting
-- member of an 18,000-target wave to find none was due yet.
DROP INDEX rollout_members_unissued;
CREATE INDEX rollout_members_waiting ON rollout_members (rollout_id, joined_at, target_id) WHERE issued = 0;
