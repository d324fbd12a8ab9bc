import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { HubStore } from './store/hub-store.ts';
import type { Db } from './store/database.ts';
import { createHttpServer } from './http/server.ts';
import type { HubServices } from './http/services.ts';
import type { AuditLog } from './services/audit/audit-log.ts';
import { RefusalRecorder } from './services/audit/refusal-recorder.ts';
import { BundleService } from './services/bundles.ts';
import { systemClock, type Clock } from './services/clock.ts';
import { DEFAULT_ENVELOPE_TTL_MS, DesiredStateService } from './services/desired-state.ts';
import { IdentityService } from './services/identity.ts';
import { ReportService } from './services/reports.ts';
import { SeenTracker } from './services/seen-tracker.ts';
import { TargetCache } from './services/target-cache.ts';
import { TargetService } from './services/targets.ts';
import { FleetQuery } from './services/fleet-query.ts';
import { RolloutService } from './services/rollouts/rollout-service.ts';
import { TrustService, type HubKeys } from './services/trust.ts';
import { DriftService } from './services/drift/drift-service.ts';
import { DriftStore } from './services/drift/drift-store.ts';
import { HoldIndex } from './services/drift/hold-index.ts';
import { IncidentService } from './services/drift/incidents.ts';

export interface HubDependencies {
  readonly db: Db;
  readonly log: Logger;
  readonly keys: HubKeys;
  /**
   * Builds the audit log over the hub's database; it must append inside callers' transactions.
   * Services see it only as an `AuditSink`; the audit routes query, export and prune it.
   */
  readonly audit: (db: Db) => AuditLog;
  /** How often the audit chain head is signed when it moved; default 5 minutes, 0 never. */
  readonly checkpointIntervalMs?: number;
  /** Prune audit entries older than this, checked at start and hourly; default keep forever. */
  readonly auditRetentionMs?: number;
  readonly clock?: Clock;
  readonly envelopeTtlMs?: number;
  readonly accessTokenSeconds?: number;
  readonly maxWaitSeconds?: number;
  /** How often the rollout controller checks for work (docs/rollouts.md); default 250 ms, 0 never (tests reconcile by hand). */
  readonly rolloutPollMs?: number;
}

/** The default interval of audit checkpoints. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5 * 60_000;
const RETENTION_CHECK_MS = 60 * 60_000;

export interface Hub {
  readonly services: HubServices;
  readonly server: Server;
  /** Listens on `host:port` (port 0 picks a free one) and returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Wires a hub from its dependencies: a database, keys, a logger and a clock. Nothing here
 * reads the environment or the file system, so tests build hubs as easily as `main.ts` does.
 */
export async function createHub(deps: HubDependencies): Promise<Hub> {
  const timings = auditTimings(deps);
  const clock = deps.clock ?? systemClock;
  const store = new HubStore(deps.db);
  const audit = deps.audit(deps.db);
  const refusals = new RefusalRecorder({ audit, clock, log: deps.log });
  const cache = new TargetCache(store);
  const trust = new TrustService(store, deps.keys, clock);
  const identity = await IdentityService.create({ store, trust, targets: cache, audit, refusals, clock, keys: deps.keys, ...(deps.accessTokenSeconds === undefined ? {} : { accessTokenSeconds: deps.accessTokenSeconds }) });
  const desired = new DesiredStateService(store, trust, cache, audit, clock, deps.keys, deps.envelopeTtlMs ?? DEFAULT_ENVELOPE_TTL_MS);
  // Drift: every envelope carries the drift policy and the holds of open incidents (docs/drift.md).
  const driftStore = new DriftStore(deps.db);
  const driftFleet = new FleetQuery(store, clock);
  const drift = new DriftService({ store, drift: driftStore, desired, audit, clock, fleet: driftFleet, holds: new HoldIndex(driftStore, clock) });
  desired.useDriftSource(drift);
  const incidents = new IncidentService({ store, drifts: driftStore, drift, desired, fleet: driftFleet, clock });
  const services: HubServices = {
    store,
    log: deps.log,
    clock,
    audit,
    trust,
    identity,
    desired,
    reports: new ReportService(store, cache, audit, clock, drift),
    bundles: new BundleService(store, trust, audit, clock),
    targets: new TargetService(store, cache, audit, clock, new FleetQuery(store, clock)),
    seen: new SeenTracker(store, clock),
    rollouts: new RolloutService({ store, desired, audit, clock, log: deps.log }),
    drift,
    incidents,
    maxWaitSeconds: deps.maxWaitSeconds ?? 60,
  };
  services.targets.afterMetadataEdit = (id, actor) => {
    incidents.refreshTarget(id, actor);
  };
  const jtiSweep = setInterval(() => {
    store.pruneJtis(clock());
    refusals.flush();
  }, 60_000);
  jtiSweep.unref();
  const stopAudit = scheduleAudit(audit, timings, deps.log, clock);
  const stopRollouts = deps.rolloutPollMs === 0 ? () => undefined : services.rollouts.start({ pollMs: deps.rolloutPollMs ?? 250 });
  const server = createHttpServer(services);
  return {
    services,
    server,
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
        });
      });
    },
    async close() {
      clearInterval(jtiSweep);
      stopRollouts();
      desired.wakeAll();
      await new Promise<void>((resolve) => {
        // Woken long-polls answer in the next turns and leave keep-alive connections idle
        // after the first sweep; keep sweeping, and cut whatever is left after a grace period.
        const sweep = setInterval(() => server.closeIdleConnections(), 20);
        const cut = setTimeout(() => server.closeAllConnections(), 5_000);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      });
      services.seen.close();
      refusals.close();
      stopAudit();
      try {
        // The head at shutdown is signed, so the last entries do not wait for the next start.
        audit.checkpointIfAdvanced();
      } catch (error) {
        deps.log.error({ err: error }, 'audit checkpoint at shutdown failed');
      }
    },
  };
}

interface AuditTimings {
  readonly checkpointIntervalMs: number;
  readonly retentionMs: number | undefined;
}

/** The audit options, checked before anything is built. */
function auditTimings(deps: HubDependencies): AuditTimings {
  const checkpointIntervalMs = deps.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
  if (!Number.isFinite(checkpointIntervalMs) || checkpointIntervalMs < 0 || (checkpointIntervalMs > 0 && checkpointIntervalMs < 1_000)) {
    throw new TypeError(`createHub: checkpointIntervalMs must be 0 (never) or at least 1000; received ${String(deps.checkpointIntervalMs)}`);
  }
  const retentionMs = deps.auditRetentionMs;
  if (retentionMs !== undefined && (!Number.isFinite(retentionMs) || retentionMs < 86_400_000)) {
    throw new TypeError(`createHub: auditRetentionMs must be at least one day (86400000); received ${String(retentionMs)}`);
  }
  return { checkpointIntervalMs, retentionMs };
}

/**
 * Starts the audit log's timers: a checkpoint over the head on an interval, and retention
 * (once now, then hourly). Returns the function that stops them; neither keeps the process alive.
 */
function scheduleAudit(audit: AuditLog, timings: AuditTimings, rootLog: Logger, clock: Clock): () => void {
  const stopCheckpoints = timings.checkpointIntervalMs === 0 ? () => undefined : audit.scheduleCheckpoints(timings.checkpointIntervalMs);
  const retentionMs = timings.retentionMs;
  if (retentionMs === undefined) return stopCheckpoints;
  const log = rootLog.child({ component: 'audit-retention' });
  const retain = (): void => {
    try {
      const { removed } = audit.prune({ olderThan: clock() - retentionMs });
      if (removed > 0) log.info({ removed, retentionMs }, 'audit entries past retention pruned');
    } catch (error) {
      log.error({ err: error }, 'audit retention prune failed');
    }
  };
  retain();
  const timer = setInterval(retain, RETENTION_CHECK_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    stopCheckpoints();
  };
}
