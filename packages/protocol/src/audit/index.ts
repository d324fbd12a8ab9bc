/**
 * `@flotilla/protocol/audit`: the audit chain as both the hub and an auditor read it
 * (docs/audit-format.md): entries and their hashes, signed checkpoints, the export format,
 * and the verifiers of a chain and of an export, which need nothing but the file and keys.
 */
export {
  AUDIT_MAX_BODY_LENGTH,
  AUDIT_MAX_SUBJECTS,
  AuditEntry,
  AuditEntryInput,
  AuditOutcome,
  type AuditEntryBody,
} from './entry.ts';
export { normalizeAuditDetails } from './details.ts';
export { AUDIT_GENESIS_HASH, canonicalAuditBody, hashAuditBody, hashAuditEntry, hashAuditLink } from './hash-entry.ts';
export {
  AuditCheckpoint,
  SignedAuditCheckpoint,
  auditCheckpointSigner,
  signAuditCheckpoint,
  type AuditCheckpointSigner,
} from './checkpoint.ts';
export { AuditIncludedDigest } from './included-digest.ts';
export { AUDIT_ELIDED_PER_LINE, AuditEntryLine, AuditExportHeader, AuditExportKey } from './export-format.ts';
export { AuditProblem, AuditVerifyResult, assertAuditVerified } from './problems.ts';
export { verifyAuditChain } from './verify-chain.ts';
export { verifyAuditExport } from './verify-export.ts';
