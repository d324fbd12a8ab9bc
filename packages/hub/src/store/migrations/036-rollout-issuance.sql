-- A wave's envelopes are issued after its membership commits, in batches that yield to the
-- event loop (docs/rollouts.md, "How a wave reaches its targets"). A member is recorded with
-- `issued = 0` in the transaction that starts its wave; the batch that signs its envelope sets
-- `generation`, `previous` and `issued = 1` in the same transaction, so a hub killed between
-- batches issues exactly the members left at 0 when it starts again. Rows from before this
-- migration were issued with their wave.
ALTER TABLE rollout_members ADD COLUMN issued INTEGER NOT NULL DEFAULT 1 CHECK (issued IN (0, 1));
-- The members still waiting for their envelope: small, and empty between rollouts.
CREATE INDEX rollout_members_unissued ON rollout_members (rollout_id, target_id) WHERE issued = 0;
