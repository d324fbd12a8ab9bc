import type { Logger } from 'pino';
import type { HubStore } from '../store/hub-store.ts';
import type { AuditLog } from '../services/audit/audit-log.ts';
import type { BundleService } from '../services/bundles.ts';
import type { Clock } from '../services/clock.ts';
import type { DesiredStateService } from '../services/desired-state.ts';
import type { IdentityService } from '../services/identity.ts';
import type { ReportService } from '../services/reports.ts';
import type { RolloutService } from '../services/rollouts/rollout-service.ts';
import type { SeenTracker } from '../services/seen-tracker.ts';
import type { TargetService } from '../services/targets.ts';
import type { TrustService } from '../services/trust.ts';
import type { DriftService } from '../services/drift/drift-service.ts';
import type { IncidentService } from '../services/drift/incidents.ts';

/** Everything the routes call; built once by `createHub`. */
export interface HubServices {
  readonly store: HubStore;
  readonly log: Logger;
  readonly clock: Clock;
  /** The audit log: services append to it as an `AuditSink`; the audit routes query, export and prune it. */
  readonly audit: AuditLog;
  readonly trust: TrustService;
  readonly identity: IdentityService;
  readonly desired: DesiredStateService;
  readonly reports: ReportService;
  readonly bundles: BundleService;
  readonly targets: TargetService;
  readonly seen: SeenTracker;
  readonly rollouts: RolloutService;
  /** Drift policy, current drift per target, revert requests (docs/drift.md). */
  readonly drift: DriftService;
  /** Incidents: holds on the targets a selector matches. */
  readonly incidents: IncidentService;
  readonly maxWaitSeconds: number;
}
