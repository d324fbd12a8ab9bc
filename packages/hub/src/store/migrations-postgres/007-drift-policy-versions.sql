-- SQLite migration 045: every drift policy an envelope may name by digest, never deleted.
CREATE TABLE drift_policies (
  digest    text COLLATE "C" PRIMARY KEY,
  policy    text COLLATE "C" NOT NULL,
  stored_at bigint NOT NULL
);
