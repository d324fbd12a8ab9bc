-- Rollouts (docs/rollouts.md): a release, a selector and a plan of waves, walked by the hub
-- as a durable state machine. Everything the controller decides from is here or in
-- `targets`, so a restarted hub picks up exactly where it stopped. Each transition (a wave
-- starting, targets joining, a pause, a rollback) is one transaction together with the
-- envelope bumps it makes and its audit entries.

CREATE TABLE rollouts (
  id              TEXT PRIMARY KEY,          -- ro_ + 16 hex
  seq             INTEGER NOT NULL UNIQUE,   -- creation order: listing, and who touched a target first
  release_name    TEXT NOT NULL,
  release_version TEXT NOT NULL,
  release_digest  TEXT NOT NULL,
  selector        TEXT NOT NULL,             -- canonical query string (formatQuery); '' is every target
  plan            TEXT NOT NULL,             -- RolloutPlan JSON: waves and gates, never changed
  state           TEXT NOT NULL CHECK (state IN ('running', 'paused', 'completed', 'aborted', 'rolled-back')),
  current_wave    INTEGER NOT NULL,          -- index of the wave in progress; -1 before the first starts
  state_reason    TEXT,                      -- why it is paused, aborted or rolled back
  created_at      INTEGER NOT NULL,          -- epoch milliseconds
  created_by      TEXT NOT NULL,             -- Actor JSON
  updated_at      INTEGER NOT NULL,
  finished_at     INTEGER
) STRICT;
CREATE INDEX rollouts_by_release ON rollouts (release_name, state);
CREATE INDEX rollouts_by_state ON rollouts (state, seq);

-- One row per wave once it has started. `cutoff` fixes a percentage wave's hash cut-off when
-- it starts, so targets that appear later fall into waves by their own hash and a growing
-- fleet never reshuffles waves. Gate clocks: the timeout runs from `started_at` (reset on
-- resume), the bake from `gates_met_at` (cleared whenever the gates stop holding).
CREATE TABLE rollout_waves (
  rollout_id   TEXT NOT NULL REFERENCES rollouts (id),
  idx          INTEGER NOT NULL,
  cutoff       INTEGER,                      -- percentage waves: highest member hash position (52-bit)
  started_at   INTEGER NOT NULL,
  gates_met_at INTEGER,
  finished_at  INTEGER,
  PRIMARY KEY (rollout_id, idx)
) STRICT, WITHOUT ROWID;

-- The targets a rollout changed, with what they had before: the list a rollback walks. A
-- member is recorded once, by the transaction that bumped its envelope.
CREATE TABLE rollout_members (
  rollout_id             TEXT NOT NULL REFERENCES rollouts (id),
  target_id              TEXT NOT NULL REFERENCES targets (id),
  wave                   INTEGER NOT NULL,   -- the wave that included it
  generation             INTEGER NOT NULL,   -- the envelope generation that carries the release
  previous               TEXT,               -- ReleaseRef JSON of the release of that name before, or NULL
  joined_at              INTEGER NOT NULL,
  rolled_back_generation INTEGER,            -- set when a rollback restored `previous`
  PRIMARY KEY (rollout_id, target_id)
) STRICT, WITHOUT ROWID;
-- Which rollouts hold a target: the conflict check between rollouts of one release name.
CREATE INDEX rollout_members_by_target ON rollout_members (target_id, rollout_id);
