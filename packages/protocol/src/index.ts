/**
 * `@flotilla/protocol`: the documents both sides exchange (zod schemas whose types share their
 * names), canonical JSON and digests, Ed25519 signatures, trust roots and the checks of
 * bundles and envelopes, and the error vocabulary. The query language, drift classification,
 * the audit chain and the HTTP API's bodies are at `/query`, `/drift`, `/audit` and `/api`.
 */
export {
  ErrorCode,
  ErrorResponse,
  FlotillaError,
  SECURITY_CODES,
  errorFromResponse,
  isFlotillaError,
  messageOf,
} from './errors.ts';
export { parseWith } from './parse-with.ts';
export { parseHubUrls } from './hub-urls.ts';
export {
  FAULT_POINTS,
  faultPoints,
  FaultSpec,
  NO_FAULTS,
  type ArmedFault,
  type FaultPoint,
  type FaultPoints,
} from './fault-points.ts';
export { canonicalize } from './canonical-json.ts';
export { assertJsonDepth, JSON_MAX_DEPTH, parseJson, parseYaml, type JsonLimits } from './bounded-json.ts';
export { digestOf, sha256 } from './crypto/digest.ts';
export { fromBase64Url } from './crypto/base64url.ts';
export { isWeakPoint } from './crypto/ed25519-checks.ts';
export {
  KeyPair,
  PublicKey,
  Signature,
  assertUsablePublicKey,
  generateKeyPair,
  isUsablePublicKey,
  keyIdOf,
  signPayload,
  verifyCanonical,
  verifyCanonicalInPool,
  verifyPayload,
  type TrustedKey,
} from './crypto/keys.ts';
export { API_VERSION, Digest, Labels, Name, Properties, ReleaseRef, TargetId, Timestamp } from './documents/common.ts';
export { Resource, assertUniqueResources, groupOf, resourceKey } from './documents/resource.ts';
export { Bundle, SignedBundle } from './documents/bundle.ts';
export { DriftRevert, Envelope, EnvelopeBundle, Hold, SignedEnvelope, releaseRefOf } from './documents/envelope.ts';
export {
  ANSWER_MAX_BYTES,
  BUNDLE_MAX_BYTES,
  DRIFT_POLICY_MAX_BYTES,
  ENROLL_ANSWER_MAX_BYTES,
  ENVELOPE_MAX_BYTES,
  TRUST_ROOT_MAX_BYTES,
  formatBytes,
} from './limits.ts';
export {
  Facts,
  Health,
  READS_DRIFT_POLICY_DIGEST,
  Report,
  ReportPhase,
  ResourceStatus,
  SignedReport,
} from './documents/report.ts';
export { ChainPoint, linkReport, REPORT_CHAIN_GENESIS } from './report-chain.ts';
export { Actor, Target, TargetDrift, TargetStatus } from './documents/target.ts';
export {
  KeyRole,
  SignedTrustRoot,
  TrustRoot,
  TrustRootDraft,
  TrustRootKey,
  keysWithRole,
} from './documents/trust-root.ts';
export { assertUsableTrustRoot, nextTrustRoot, type TrustRootChange } from './trust-root-change.ts';
export {
  DriftAction,
  DriftClass,
  DriftPolicy,
  DriftRule,
  driftPolicyDigest,
  parseDriftPolicy,
  type DriftPolicyInput,
} from './documents/drift-policy.ts';
export {
  DRIFT_REPORT_MAX_ITEMS,
  DRIFT_VALUE_PREVIEW_MAX,
  DriftItemReport,
  DriftReportSection,
} from './documents/drift-report.ts';
export { verifyTrustRoot } from './verify-trust-root.ts';
export { verifyBundle } from './verify-bundle.ts';
export { envelopeContent, verifyEnvelope, verifyEnvelopeHeader } from './verify-envelope.ts';
export { signBundle } from './sign-bundle.ts';
