import type { z } from 'zod';
import type { Target as TargetSchema } from '@flotilla/protocol';
import type {
  AuditLatestCheckpoint,
  AuditPage as AuditPageSchema,
  DashboardSession,
  DriftList as DriftListSchema,
  DriftListItem,
  FacetCounts,
  Incident as IncidentSchema,
  MemberView as MemberViewSchema,
  QueryCompletion,
  ReleaseListItem,
  RolloutSummary as RolloutSummarySchema,
  RolloutView as RolloutViewSchema,
  TargetBrowsePage,
  TargetDriftView,
  TargetSummary as TargetSummarySchema,
  WaveCounts as WaveCountsSchema,
  WaveView as WaveViewSchema,
} from '@flotilla/protocol/api';
import type { AuditVerifyResult } from '@flotilla/protocol/audit';

/**
 * The hub's answers as the pages read them: the protocol's API schemas (docs/api.md), which
 * `api.ts` applies leniently, so a newer hub's extra fields are dropped, not refused.
 */
export type SessionInfo = z.output<typeof DashboardSession>;
export type Facets = z.output<typeof FacetCounts>;
export type TargetSummary = z.output<typeof TargetSummarySchema>;
export type BrowsePage = z.output<typeof TargetBrowsePage>;
export type Completion = z.output<typeof QueryCompletion>;
export type Target = z.output<typeof TargetSchema>;
export type DriftItem = z.output<typeof DriftListItem>;
export type DriftList = z.output<typeof DriftListSchema>;
export type TargetDrift = z.output<typeof TargetDriftView>;
export type Incident = z.output<typeof IncidentSchema>;
export type AuditPage = z.output<typeof AuditPageSchema>;
export type AuditEntry = AuditPage['entries'][number];
export type Checkpoint = z.output<typeof AuditLatestCheckpoint>;
export type Verify = z.output<typeof AuditVerifyResult>;
export type WaveCounts = z.output<typeof WaveCountsSchema>;
export type RolloutSummary = z.output<typeof RolloutSummarySchema>;
export type WaveView = z.output<typeof WaveViewSchema>;
export type MemberView = z.output<typeof MemberViewSchema>;
export type RolloutView = z.output<typeof RolloutViewSchema>;
export type Bundle = z.output<typeof ReleaseListItem>;
