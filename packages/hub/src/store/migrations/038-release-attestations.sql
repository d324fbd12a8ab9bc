-- Provenance attestations of releases (docs/policy.md, "Attestations with releases"): kept as
-- CI wrote them, content addressed, so the hub can carry them to agents, which verify them
-- again against their own trust root.
CREATE TABLE release_attestations (
  release_digest TEXT NOT NULL REFERENCES bundles(digest),
  digest         TEXT NOT NULL,        -- sha256 of the attestation's canonical JSON
  format         TEXT NOT NULL CHECK (format IN ('dsse', 'sigstore-bundle')),
  attestation    TEXT NOT NULL,        -- Attestation JSON, as received
  signers        TEXT NOT NULL,        -- JSON array of the attestation key ids that verified it
  builder        TEXT NOT NULL,
  sources        TEXT NOT NULL,        -- JSON array of { repository, commit }
  added_at       INTEGER NOT NULL,
  added_by       TEXT NOT NULL,        -- the API token's name
  PRIMARY KEY (release_digest, digest)
) STRICT;
