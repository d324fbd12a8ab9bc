-- Operators' API tokens gain a lifetime and their creator (docs/security.md, "Operators").
-- The scope lives in api_tokens.selector, as a canonical fleet query.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;        -- epoch milliseconds; NULL: until revoked
ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'hub';
