-- Enrollment tokens can be revoked (`flotilla enroll-token revoke`): a revoked token enrolls
-- nothing more, and its use is refused and audited. NULL means not revoked.
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at INTEGER;
