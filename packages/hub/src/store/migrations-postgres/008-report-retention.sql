-- SQLite migration 046: report retention (docs/operations.md, "Report retention").
CREATE TABLE report_floors (
  target_id      text COLLATE "C" PRIMARY KEY REFERENCES targets (id),
  pruned_through bigint NOT NULL
);

CREATE TABLE report_prune_tally (
  id      bigint PRIMARY KEY CHECK (id = 1),
  removed bigint NOT NULL
);
