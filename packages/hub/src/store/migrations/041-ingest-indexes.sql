-- Enrollment looks a target up by its public key (the same key enrolling again gets the same
-- target): without an index every enrollment read the whole table, so enrolling a fleet cost
-- time quadratic in its size.
CREATE INDEX targets_by_public_key ON targets (public_key);

-- A hub without a fleet index snapshot builds the index from these two, each read whole
-- at start: the targets' own columns in id order, and each distinct field value with its
-- holders. Covering indexes make both a scan of one index, with no lookup per row into the
-- table (the targets' rows carry their envelopes) and no sort. The wider value index answers
-- every lookup the text index did, so it replaces it.
CREATE INDEX targets_for_fleet_index ON targets (id, name, status, last_seen_at, last_changed_at, enrolled_at);
DROP INDEX target_fields_by_text;
CREATE INDEX target_fields_by_value ON target_fields (field, text_value, num_value, version_key, time_value);
