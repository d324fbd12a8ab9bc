/**
 * `@flotilla/protocol/api`: every request and response body of the hub's HTTP API
 * (docs/api.md) as a zod schema whose type shares its name. The hub parses requests strictly
 * with them and types its answers with them; clients parse answers with {@link lenient}, so
 * an older client reads a newer hub. Signed documents travel as the core export defines them.
 */
export { lenient } from './lenient.ts';
export {
  CreateEnrollmentTokenRequest,
  EnrollProof,
  EnrollRequest,
  EnrollResponse,
  EnrollmentToken,
  EnrollmentTokenList,
  KeyRotation,
  KeyRotationRequest,
  KeyRotationResponse,
  TokenRequest,
  TokenResponse,
} from './identity.ts';
export {
  AddApproverKeyRequest,
  AddAttestationKeyRequest,
  AddReleaseKeyRequest,
  HubHealth,
  HubReadiness,
} from './trust.ts';
export {
  FacetCounts,
  FacetQuery,
  MetadataEdit,
  QueryCompletion,
  QueryCompletionQuery,
  StatusChange,
  TARGET_SORTS,
  TargetBrowsePage,
  TargetBrowseQuery,
  TargetListQuery,
  TargetPage,
  TargetSort,
  TargetSummary,
} from './targets.ts';
export { DashboardSession, SignInRequest } from './dashboard.ts';
export { AssignRequest, AssignResult } from './desired-state.ts';
export { LastReport, ReportReceipt } from './reports.ts';
export {
  PublishRelease,
  PublishResult,
  ReleaseAttestationView,
  ReleaseDetails,
  ReleaseList,
  ReleaseListItem,
  ReleasePolicyVerdict,
} from './bundles.ts';
export {
  CreateRolloutRequest,
  CreateRolloutResult,
  MAX_WAVES,
  MemberListing,
  MemberState,
  MemberView,
  PlanInput,
  RolloutCommand,
  RolloutId,
  RolloutList,
  RolloutListQuery,
  RolloutState,
  RolloutSummary,
  RolloutView,
  RolloutViewQuery,
  WaveCounts,
  WaveInput,
  WaveState,
  WaveView,
} from './rollouts.ts';
export {
  DriftItemId,
  DriftList,
  DriftListItem,
  DriftListQuery,
  DriftPolicyChange,
  DriftPolicyState,
  RevertRequest,
  RevertResult,
  TargetDriftView,
} from './drift.ts';
export {
  CloseIncidentRequest,
  Incident,
  IncidentChange,
  IncidentId,
  IncidentList,
  IncidentListQuery,
  OpenIncidentRequest,
} from './incidents.ts';
export {
  AUDIT_MIN_RETENTION_MS,
  AuditActionPattern,
  AuditCheckpointRequest,
  AuditLatestCheckpoint,
  AuditExportQuery,
  AuditHistoryQuery,
  AuditListQuery,
  AuditPage,
  AuditPruneRequest,
  AuditPruneResult,
} from './audit.ts';
export {
  ApplyPolicyRequest,
  ApprovalList,
  ApprovalView,
  RecordApprovalRequest,
  PolicyChangeResult,
  PolicyDiffQuery,
  PolicyFieldChange,
  PlanBlockReason,
  PlannedTargetView,
  PolicyList,
  PolicyPlan,
  PolicyPlanRequest,
  PolicySection,
  PolicySummary,
  PolicyVersionInfo,
  PolicyVersionQuery,
  PolicyView,
} from './policies.ts';
export { ApprovalRequirement, ApprovalStatus } from './approval-status.ts';
export {
  API_TOKEN_MAX_TTL_SECONDS,
  ApiToken,
  ApiTokenId,
  ApiTokenList,
  CreateApiTokenRequest,
  CreatedApiToken,
  OperatorRole,
} from './operators.ts';
export {
  OFFLINE_EXPIRY_DEFAULT_SECONDS,
  OFFLINE_EXPIRY_MAX_SECONDS,
  OfflineExportPlan,
  OfflineExportRequest,
  OfflineSettings,
  OfflineSyncMode,
  OfflineTargetList,
  OfflineTargetState,
} from './offline.ts';
export {
  HubStreamMessage,
  STREAM_CLOSE,
  StreamAuth,
  StreamAuthenticated,
  StreamChanged,
  StreamHello,
} from './stream.ts';
