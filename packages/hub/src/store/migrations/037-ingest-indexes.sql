-- Enrollment looks a target up by its public key (the same key enrolling again gets the same
-- target): without an index every enrollment read the whole table, so enrolling a fleet cost
-- time quadratic in its size.
CREATE INDEX targets_by_public_key ON targets (public_key);
