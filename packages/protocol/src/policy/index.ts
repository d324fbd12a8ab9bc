/**
 * `@flotilla/protocol/policy`: compliance as runtime policy (docs/policy.md). Policy
 * documents and their canonical diff; release requirements and placement by capability;
 * artifact rules with DSSE, in-toto/SLSA and Sigstore provenance verified offline; signed
 * approvals; change windows in the target's time zone; the evaluator a plan runs over the
 * fleet; and the section of an envelope the agent re-checks at apply time. Pure: no I/O.
 */
export {
  POLICY_LIMITS,
  Policy,
  PolicyMetadata,
  PolicySpec,
  PlacementRules,
  ArtifactRules,
  ProvenanceRules,
  ApprovalRules,
  WindowRules,
  WorkloadClass,
  policyRef,
  type PolicyInput,
} from './policy-document.ts';
export { parsePolicy, policyScope, type PolicyProblem } from './parse-policy.ts';
export { canonicalPolicy, policyDigest } from './canonical-policy.ts';
export { diffPolicies, formatPolicyDiff, type PolicyChange } from './diff-policies.ts';
export { ReleaseRequirements, compileRequirements, type CompiledRequirements } from './check-requirements.ts';
export {
  GPU_RESOURCES,
  TIMEZONE_PROPERTY,
  hasCapability,
  hasCertification,
  kubernetesAtLeast,
  targetRegion,
  targetTimeZone,
} from './target-traits.ts';
export type { BlockKind, BlockReason, PolicyDecision } from './block-reason.ts';
export {
  Window,
  Freeze,
  Weekday,
  TimeZoneName,
  compileSchedule,
  formatFreeze,
  formatWindow,
  parseFreezeText,
  parseWindowText,
  type ClosedBecause,
  type CompiledSchedule,
  type WindowSchedule,
} from './change-window.ts';
export {
  AttestationKey,
  assertUsableAttestationKeys,
  attestationKeyOf,
  importAttestationKeys,
  type VerifyingKey,
} from './attestation-keys.ts';
export {
  DsseEnvelope,
  IN_TOTO_PAYLOAD_TYPE,
  decodeBase64,
  preAuthEncoding,
  verifyDsse,
  type VerifiedDsse,
} from './dsse.ts';
export {
  IN_TOTO_STATEMENT_V1,
  SLSA_PROVENANCE_V1,
  InTotoStatement,
  SlsaProvenance,
  normalizeRepository,
  readProvenance,
  type ProvenanceFacts,
  type ProvenanceSource,
} from './provenance.ts';
export { verifySigstoreBundle } from './sigstore-bundle.ts';
export {
  Attestation,
  PROVENANCE_PAYLOAD_TYPES,
  verifyProvenance,
  type VerifiedProvenance,
} from './verify-provenance.ts';
export { bundleImages, type BundleImage } from './bundle-images.ts';
export { inspectRelease, type ReleaseFacts, type ReleaseTrust } from './inspect-release.ts';
export { checkArtifacts } from './check-artifacts.ts';
export { checkApprovals, checkPlacement, checkWindows } from './check-rules.ts';
export {
  Approval,
  ApprovalAction,
  ApproverKey,
  SignedApproval,
  countApprovals,
  normalizeIdentity,
  signApproval,
  verifyApprovals,
  type AcceptedApproval,
  type ApprovalRefusal,
  type ApprovalSubject,
  type VerifiedApprovals,
} from './approval.ts';
export {
  createPolicyEvaluator,
  type PlannedTarget,
  type PolicyEvaluator,
  type RolloutContext,
} from './evaluate-policies.ts';
export { parsePlacementRequest, type PlacementRequest } from './placement-request.ts';
export {
  choosePlacement,
  type PlacementChoice,
  type PlacementExplanation,
  type PlacementOptions,
} from './choose-placement.ts';
export {
  EnvelopePolicy,
  EnvelopePolicyRules,
  buildEnvelopePolicy,
  checkEnvelopePolicy,
  type EnvelopePolicyCheck,
  type EnvelopePolicyTrust,
} from './envelope-policy.ts';
export {
  EnvelopeTargetRecord,
  POLICY_SET_MAX_BYTES,
  POLICY_SET_MAX_POLICIES,
  PolicySet,
  SignedPolicySet,
  policiesForTarget,
  policySetDigest,
  verifyPolicySet,
  type AcceptedPolicySet,
} from './policy-set.ts';
