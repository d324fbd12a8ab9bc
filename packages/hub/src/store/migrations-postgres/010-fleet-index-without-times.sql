-- SQLite migration 047: the index named for the fleet index's build leaves out the two times
-- every report, check-in and issued envelope moves, so those writes do not move an entry of
-- it too. PostgreSQL's build reads the table in one pass and never used the times from it.
DROP INDEX targets_for_fleet_index;
CREATE INDEX targets_for_fleet_index ON targets (id, name, status, enrolled_at);
