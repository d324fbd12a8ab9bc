import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { FaultPoints } from '@flotilla/protocol';
import { systemClock, type Clock } from './clock.ts';
import { createHttpServer } from './http/server.ts';
import { Router } from './http/router.ts';
import type BetterSqlite3 from 'better-sqlite3';
import { walFileBytes, type Db } from './store/database.ts';
import { dialectOf } from './store/sql.ts';
import { FreePages } from './store/free-pages.ts';
import { StoreHealth } from './store/store-health.ts';
import { transactions, type Transactions } from './store/transaction.ts';
import type { AuditLog } from './features/audit/audit-log.ts';
import { auditRoutes } from './features/audit/audit-routes.ts';
import { AuditSchedule, DEFAULT_CHECKPOINT_INTERVAL_MS } from './features/audit/audit-schedule.ts';
import { AuditService } from './features/audit/audit-service.ts';
import { RefusalRecorder } from './features/audit/refusal-recorder.ts';
import { bundleRoutes } from './features/bundles/bundle-routes.ts';
import { Dashboard } from './features/dashboard/dashboard.ts';
import { dashboardRoutes } from './features/dashboard/dashboard-routes.ts';
import { BundleService } from './features/bundles/bundle-service.ts';
import { ReleaseCatalog } from './features/bundles/release-catalog.ts';
import { AttestationStore } from './features/bundles/attestation-store.ts';
import { BundleStore } from './features/bundles/bundle-store.ts';
import { desiredStateRoutes } from './features/desired-state/desired-state-routes.ts';
import {
  DEFAULT_ENVELOPE_TTL_MS,
  DesiredStateService,
  type EnvelopeDriftPolicy,
} from './features/desired-state/desired-state-service.ts';
import { DriftPolicies } from './features/drift/drift-policies.ts';
import { driftRoutes } from './features/drift/drift-routes.ts';
import { DriftService } from './features/drift/drift-service.ts';
import { DriftStore } from './features/drift/drift-store.ts';
import { identityRoutes } from './features/identity/identity-routes.ts';
import { IdentityService } from './features/identity/identity-service.ts';
import { IdentityStore } from './features/identity/identity-store.ts';
import { KeyRotationService } from './features/identity/key-rotation-service.ts';
import { RetiredKeyStore } from './features/identity/retired-key-store.ts';
import { TrustService, type HubKeys } from './features/identity/trust-service.ts';
import { TrustStore } from './features/identity/trust-store.ts';
import { HoldIndex } from './features/incidents/hold-index.ts';
import { HubMetrics } from './features/metrics/hub-metrics.ts';
import { meterAudit, meterReports, meteredTransactions } from './features/metrics/metered.ts';
import { MetricsStore } from './features/metrics/metrics-store.ts';
import { incidentRoutes } from './features/incidents/incident-routes.ts';
import { IncidentService } from './features/incidents/incident-service.ts';
import { IncidentStore } from './features/incidents/incident-store.ts';
import { policyRoutes } from './features/policy/policy-routes.ts';
import { ApprovalService } from './features/policy/approval-service.ts';
import { ApprovalStore } from './features/policy/approval-store.ts';
import { AssignPolicyGate } from './features/policy/assign-policy-gate.ts';
import { PolicyPlanner } from './features/policy/policy-planner.ts';
import { policySetRoutes } from './features/policy/policy-set-routes.ts';
import { PolicySetService } from './features/policy/policy-set-service.ts';
import { PolicySetStore } from './features/policy/policy-set-store.ts';
import { ReleaseVerdicts } from './features/policy/release-verdicts.ts';
import { RolloutPolicyGate } from './features/policy/rollout-policy-gate.ts';
import { approvalStatusRoutes } from './features/policy/approval-status-routes.ts';
import { PolicyService } from './features/policy/policy-service.ts';
import { PolicyStore } from './features/policy/policy-store.ts';
import { operatorTokenRoutes } from './features/operators/operator-token-routes.ts';
import { OperatorTokenService } from './features/operators/operator-token-service.ts';
import { OperatorTokenStore } from './features/operators/operator-token-store.ts';
import { OperatorTargetScope } from './features/operators/target-scope.ts';
import { offlineRoutes } from './features/offline/offline-routes.ts';
import { OfflineService } from './features/offline/offline-service.ts';
import { OfflineStore } from './features/offline/offline-store.ts';
import { replicasFor } from './features/replicas/replicas.ts';
import { reportRoutes } from './features/reports/report-routes.ts';
import { defaultIntakeWorkers, ReportIntake } from './features/reports/report-intake.ts';
import { DEFAULT_REPORT_RETENTION_MS, ReportRetention } from './features/reports/report-retention.ts';
import { ReportService } from './features/reports/report-service.ts';
import { ReportStore } from './features/reports/report-store.ts';
import { AgentStreams } from './features/stream/agent-streams.ts';
import { rolloutRoutes } from './features/rollouts/rollout-routes.ts';
import { RolloutScope } from './features/rollouts/rollout-scope.ts';
import { IndexedSelection } from './features/rollouts/rollout-selection.ts';
import { RolloutService } from './features/rollouts/rollout-service.ts';
import { RolloutStore } from './features/rollouts/rollout-store.ts';
import { FleetQuery } from './features/targets/fleet-query.ts';
import { FleetQueryStore } from './features/targets/fleet-query-store.ts';
import { SeenTracker } from './features/targets/seen-tracker.ts';
import { TurnBudget } from './turn-budget.ts';
import { TargetCache } from './features/targets/target-cache.ts';
import { QueryCompletion } from './features/targets/query-completion.ts';
import { TargetBrowser } from './features/targets/target-browse.ts';
import { targetBrowseRoutes } from './features/targets/target-browse-routes.ts';
import { TargetBrowseStore } from './features/targets/target-browse-store.ts';
import { targetRoutes } from './features/targets/target-routes.ts';
import { TargetService } from './features/targets/target-service.ts';
import { TargetStore } from './features/targets/target-store.ts';

export interface HubDependencies {
  readonly db: Db;
  readonly log: Logger;
  readonly keys: HubKeys;
  /**
   * Builds the audit log over the hub's database; it must append inside callers' transactions.
   * Features see it only as an `AuditSink`; the audit feature queries, exports and prunes it.
   */
  readonly audit: (db: Db) => AuditLog;
  /** How often the audit chain head is signed when it moved; default 5 minutes, 0 never. */
  readonly checkpointIntervalMs?: number;
  /** Prune audit entries older than this, checked at start and hourly; default keep forever. */
  readonly auditRetentionMs?: number;
  /** Prune agents' reports received longer ago than this (each target's newest stays), at start and hourly; default 30 days, at least an hour. */
  readonly reportRetentionMs?: number;
  /** Test-only: the most reports one batch of a prune removes (`FLOTILLA_TEST_REPORT_PRUNE_BATCH`); default 500. */
  readonly reportPruneBatch?: number;
  readonly clock?: Clock;
  readonly envelopeTtlMs?: number;
  /**
   * How new envelopes carry the drift policy: by digest (default), or `inline` while agents that
   * predate `driftPolicyDigest` remain, which refuse an envelope naming it (docs/drift.md).
   */
  readonly envelopeDriftPolicy?: EnvelopeDriftPolicy;
  readonly accessTokenSeconds?: number;
  readonly maxWaitSeconds?: number;
  /** How often the rollout controller checks for work (docs/rollouts.md); default 250 ms, 0 never (tests reconcile by hand). */
  readonly rolloutPollMs?: number;
  /** The most envelopes one batch of a rollout wave issues before it commits and yields (docs/operations.md); default 256. */
  readonly rolloutIssueBatch?: number;
  /** The most members one step of a rollout wave records before it commits and yields (docs/operations.md); default 1000. */
  readonly rolloutEnlistSlice?: number;
  /** How long a wave's member waits for its agent's fetch before a batch issues its envelope (docs/rollouts.md); default 2 s. */
  readonly rolloutIssueDelayMs?: number;
  /** The built dashboard's folder; default packages/dashboard/dist. */
  readonly dashboardDir?: string;
  /** How often the dashboard's event stream reads the audit log; default 250 ms, 0 never. */
  readonly eventPollMs?: number;
  /** Test-only crash points (`FLOTILLA_FAULT`, docs/operations.md); default none. */
  readonly faults?: FaultPoints;
  /** How often a write is tried while the store cannot write (docs/operations.md); default 1 s. */
  readonly storeProbeMs?: number;
  /** How often agents' last-seen times reach the store; default 5 s. */
  readonly lastSeenFlushMs?: number;
  /** The agents' push streams (docs/operations.md, "Sizing"): heartbeat, caps and what a 429 asks agents to wait. */
  readonly stream?: {
    readonly heartbeatMs?: number;
    readonly maxStreams?: number;
    readonly maxHandshakes?: number;
    readonly retryAfterSeconds?: number;
    /** The longest one turn spends sending `changed` notices; default 40 ms. */
    readonly noticeSliceMs?: number;
    /** The longest an envelope fetch waits for the notices queued before it; default 1 s. */
    readonly fetchWaitMaxMs?: number;
  };
  /** The most connections the server holds; beyond it new ones are closed at once (keep it below the fd limit). */
  readonly maxConnections?: number;
  /**
   * What the hub's sliced work (notices, wave steps and envelope batches, catch-ups, the
   * last-seen flush) may take of one turn of the event loop, all of it together; default
   * 50 ms (`TURN_BUDGET_MS`). Tests that count slices per turn set it high, so that a slow machine
   * does not push a slice to the next turn.
   */
  readonly turnBudgetMs?: number;
  /** Worker threads that read and verify agents' reports (docs/operations.md); 0 reads them on the event loop; default one less than the cores, 1 to 4. */
  readonly reportWorkers?: number;
}

/** The hub's services, for the CLI's `serve`, scripts and tests that drive a hub without HTTP. */
export interface HubServices {
  /** Transactions on the hub's database: calls made inside one commit or roll back together. */
  readonly tx: Transactions;
  /** The audit log: features append to it as an `AuditSink`; the audit feature queries, exports and prunes it. */
  readonly audit: AuditLog;
  readonly trust: TrustService;
  readonly identity: IdentityService;
  /** Operators' API tokens: roles, scopes, lifetimes (docs/security.md). */
  readonly operators: OperatorTokenService;
  readonly targets: TargetService;
  /** Fleet queries: parse, check and select, as every feature that selects targets does. */
  readonly fleet: FleetQuery;
  readonly bundles: BundleService;
  readonly desired: DesiredStateService;
  readonly reports: ReportService;
  /** Report retention: prunes at start and hourly; `prune()` prunes now (docs/operations.md). */
  readonly reportRetention: ReportRetention;
  readonly rollouts: RolloutService;
  readonly drift: DriftService;
  readonly incidents: IncidentService;
  /** Compliance policies (docs/policy.md). */
  readonly policies: PolicyService;
  /** Plans a rollout under the live policies: `flotilla rollout plan`, `--dry-run` and `--place`. */
  readonly planner: PolicyPlanner;
  /** Signed approvals of rollouts. */
  readonly approvals: ApprovalService;
  /** The air-gap exchange: transfer files, reports files, receipts (docs/air-gap.md). */
  readonly offline: OfflineService;
  /** The dashboard's files, sessions and live events (docs/dashboard.md). */
  readonly dashboard: Dashboard;
  /** The agents' push streams. */
  readonly streams: AgentStreams;
}

export interface Hub {
  readonly services: HubServices;
  readonly server: Server;
  /** Every route of the API, as registered (`{ method: 'GET', path: '/v1/targets/:id' }`). */
  readonly routes: readonly { readonly method: string; readonly path: string }[];
  /** The hub's Prometheus metrics: `scrape()` is what `GET /metrics` serves (docs/operations.md). */
  readonly metrics: Pick<HubMetrics, 'scrape'>;
  /** Listens on `host:port` (port 0 picks a free one) and returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Wires a hub from its dependencies: a database, keys, a logger and a clock. Each feature gets
 * the stores and the other features' services it needs, as the small interfaces it declares,
 * at construction; nothing is wired afterwards. Nothing here reads the environment or the
 * file system, so tests build hubs as easily as `main.ts` does.
 */
export async function createHub(deps: HubDependencies): Promise<Hub> {
  const { db, log, keys } = deps;
  const clock = deps.clock ?? systemClock;
  const store = new StoreHealth({
    db,
    log,
    clock,
    ...(deps.storeProbeMs === undefined ? {} : { probeMs: deps.storeProbeMs }),
  });
  // Before any cache fills, so that what other replicas commit meanwhile is taken in after.
  const replicas = replicasFor(db, log);
  // Scrape-time gauges read the services built below; they are only read once the hub serves.
  const counted = new MetricsStore(db);
  // The SQLite connection, for what only a SQLite store has (its file's free pages and WAL); undefined on PostgreSQL.
  const sqlite = dialectOf(db) === 'sqlite' ? (db as BetterSqlite3.Database) : undefined;
  const metrics: HubMetrics = new HubMetrics({
    connectedAgents: () => ({ 'long-poll': desired.waitingAgents(), stream: streams.size }),
    targetsByStatus: () => counted.targetsByStatus(),
    agentsNotSeen: () => counted.agentsNotSeen(clock()),
    rolloutsByState: () => counted.rolloutsByState(),
    rolloutWavesByState: () => counted.rolloutWavesByState(),
    driftItemsByClass: () => counted.driftItemsByClass(),
    auditCheckpoint: () => counted.auditCheckpoint(clock()),
    queryIndexBuildSeconds: () => indexBuild.ms / 1000,
    turnBudgetSeconds: () => budget.limitMs / 1000,
    storeFreeBytes: () => freePages?.freeBytes,
    storeWalBytes: () => (sqlite === undefined ? undefined : walFileBytes(sqlite)),
  });
  const budget = new TurnBudget(deps.turnBudgetMs, (ms) => metrics.turnDone(ms / 1000));
  const tx = meteredTransactions(transactions(db, store), metrics);
  const audit = meterAudit(deps.audit(db), metrics);
  const refusals = new RefusalRecorder({ audit, clock, log, failures: store });
  const auditSchedule = new AuditSchedule({
    audit,
    refusals,
    clock,
    log,
    checkpointIntervalMs: deps.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
    retentionMs: deps.auditRetentionMs,
    failures: store,
    once: replicas.once,
  });
  // What a prune frees goes back to the file system; PostgreSQL's autovacuum does that itself.
  const freePages =
    sqlite === undefined
      ? undefined
      : new FreePages(sqlite, {
          failures: store,
          ...(deps.faults === undefined ? {} : { faults: deps.faults }),
        });
  const reportStore = new ReportStore(db);
  const reportRetention = new ReportRetention({
    tx,
    store: reportStore,
    audit,
    clock,
    log,
    retentionMs: deps.reportRetentionMs ?? DEFAULT_REPORT_RETENTION_MS,
    ...(deps.reportPruneBatch === undefined ? {} : { batch: deps.reportPruneBatch }),
    failures: store,
    once: replicas.once,
    metrics,
    ...(deps.faults === undefined ? {} : { faults: deps.faults }),
    pruned: () => void freePages?.reclaim().catch((error: unknown) => store.report(error, 'free pages')),
  });

  const targetStore = new TargetStore(db);
  // Built before the hub listens, so it reports ready only with its index in place.
  const indexBuild = targetStore.loadFleetIndex();
  log.info(
    { source: indexBuild.source, ms: Math.round(indexBuild.ms), targets: targetStore.fleetIndex().size },
    'fleet query index ready',
  );
  const cache = new TargetCache(targetStore);
  const seen = new SeenTracker(targetStore, clock, store, budget);
  const fleet = new FleetQuery({ targets: targetStore, store: new FleetQueryStore(db), clock });
  const trust = new TrustService({ tx, store: new TrustStore(db), keys, audit, clock });
  const bundleStore = new BundleStore(db);
  const attestationStore = new AttestationStore(db);
  const catalog = new ReleaseCatalog(bundleStore, attestationStore);
  const policyService = new PolicyService({ tx, store: new PolicyStore(db), audit, clock });
  const planner = new PolicyPlanner({
    tx,
    policies: policyService,
    releases: catalog,
    fleet,
    trust,
    audit,
    clock,
  });
  const bundles = new BundleService({
    tx,
    store: bundleStore,
    attestations: attestationStore,
    catalog,
    verdicts: new ReleaseVerdicts({ policies: policyService, planner }),
    keys: trust,
    envelopes: cache,
    audit,
    clock,
  });
  const operators = new OperatorTokenService({ tx, store: new OperatorTokenStore(db), audit, refusals, clock });
  const identity = await IdentityService.create({
    operators,
    tx,
    store: new IdentityStore(db),
    targets: targetStore,
    credentials: cache,
    trust,
    audit,
    refusals,
    clock,
    keys,
    failures: store,
    metrics,
    ...(deps.accessTokenSeconds === undefined ? {} : { accessTokenSeconds: deps.accessTokenSeconds }),
  });
  const streams = new AgentStreams({
    auth: identity,
    // A target whose envelope a started wave holds is greeted with no tag, so its agent fetches (and so issues) it.
    tags: {
      get: (id: string): { readonly etag: string } | undefined =>
        rollouts.controller.issuer.holds(id) ? undefined : cache.get(id),
    },
    clock,
    log,
    budget,
    ...deps.stream,
  });
  const incidentStore = new IncidentStore(db);
  const holds = new HoldIndex({ store: incidentStore, targets: targetStore, clock });
  const driftStore = new DriftStore(db);
  const policies = new DriftPolicies(driftStore);
  policies.keepCurrent(clock());
  const policySets = new PolicySetService({
    tx,
    store: new PolicySetStore(db),
    policies: policyService,
    trust,
    targets: targetStore,
    audit,
    clock,
  });
  const assignPolicy = new AssignPolicyGate({
    tx,
    policies: policyService,
    planner,
    targets: targetStore,
    audit,
    clock,
  });
  const desired = new DesiredStateService({
    tx,
    assignPolicy,
    notices: streams,
    targets: targetStore,
    served: cache,
    releases: bundles,
    policies,
    holds,
    checkIns: seen,
    trust,
    keys,
    audit,
    clock,
    envelopeTtlMs: deps.envelopeTtlMs ?? DEFAULT_ENVELOPE_TTL_MS,
    envelopeDriftPolicy: deps.envelopeDriftPolicy ?? 'digest',
    metrics,
    policySets,
  });
  const drift = new DriftService({
    tx,
    store: driftStore,
    policies,
    targets: targetStore,
    fleet,
    envelopes: desired,
    audit,
    clock,
  });
  const incidents = new IncidentService({ tx, store: incidentStore, holds, fleet, envelopes: desired, audit, clock });
  const targets = new TargetService({
    tx,
    store: targetStore,
    cache,
    fleet,
    holds: incidents,
    statusChanges: streams,
    audit,
    clock,
  });
  const dashboard = new Dashboard({
    audit,
    log,
    clock,
    ...(deps.dashboardDir === undefined ? {} : { assetsDir: deps.dashboardDir }),
    ...(deps.eventPollMs === undefined ? {} : { eventPollMs: deps.eventPollMs }),
  });
  const intake = new ReportIntake(deps.reportWorkers ?? defaultIntakeWorkers(), {
    log: log.child({ component: 'reports' }),
    ...(deps.faults?.armed === undefined ? {} : { faults: deps.faults.armed }),
  });
  // Before the hub takes a connection: loading a worker's modules needs file descriptors.
  await intake.ready;
  const reports = dashboard.events.watchReports(
    meterReports(
      new ReportService({
        intake,
        tx,
        store: reportStore,
        targets: cache,
        observed: targetStore,
        drift,
        audit,
        clock,
        ...(deps.faults === undefined ? {} : { faults: deps.faults }),
        log: log.child({ component: 'reports' }),
      }),
      metrics,
    ),
  );
  const rolloutStore = new RolloutStore(db);
  const approvals = new ApprovalService({
    tx,
    store: new ApprovalStore(db),
    rollouts: rolloutStore,
    trust,
    audit,
    clock,
  });
  const rollouts = new RolloutService({
    tx,
    store: rolloutStore,
    policy: new RolloutPolicyGate({
      policies: policyService,
      planner,
      approvals,
      targets: targetStore,
      releases: bundles,
      trust,
      clock,
    }),
    desired,
    releases: bundles,
    selectors: fleet,
    audit,
    clock,
    log,
    failures: store,
    ...(deps.faults === undefined ? {} : { faults: deps.faults }),
    ...(deps.rolloutIssueBatch === undefined ? {} : { issueBatch: deps.rolloutIssueBatch }),
    ...(deps.rolloutEnlistSlice === undefined ? {} : { enlistSlice: deps.rolloutEnlistSlice }),
    ...(deps.rolloutIssueDelayMs === undefined ? {} : { issueDelayMs: deps.rolloutIssueDelayMs }),
    gatesChanged: (change) => dashboard.events.waveGates(change),
    once: replicas.once,
    selection: new IndexedSelection(targetStore),
    budget,
  });
  replicas.keepInStep({
    served: cache,
    fleetIndex: targetStore,
    envelopes: desired,
    streams,
    holds,
    driftPolicies: policies,
    operatorTokens: operators,
    trust,
    policySets,
    rollouts: rollouts.controller,
  });
  const retiredKeys = new RetiredKeyStore(db);
  const offline = new OfflineService({
    tx,
    store: new OfflineStore(db),
    envelopes: desired,
    releases: bundles,
    trust,
    selector: fleet,
    targets: {
      target: (id) => targetStore.target(id),
      get: (id) => cache.get(id),
      retiredKeys: (id) => retiredKeys.ofTarget(id),
    },
    reports,
    keys,
    audit,
    clock,
  });
  const auditService = new AuditService({ log: audit, fleet, targets, clock });

  const maxWaitSeconds = deps.maxWaitSeconds ?? 60;
  const router = new Router();
  // The agents' check-in comes first: the router tries routes in order.
  const scope = new OperatorTargetScope({ targets: targetStore, refusals, clock });
  desiredStateRoutes(router, {
    auth: identity,
    desired,
    scope,
    maxWaitSeconds,
    waiting: rollouts.controller.issuer,
    notices: streams,
  });
  identityRoutes(router, {
    identity,
    trust,
    store,
    rotation: new KeyRotationService({
      tx,
      targets: targetStore,
      history: retiredKeys,
      reports,
      credentials: cache,
      audit,
      refusals,
      clock,
    }),
  });
  operatorTokenRoutes(router, { auth: identity, operators });
  bundleRoutes(router, { auth: identity, bundles });
  reportRoutes(router, { auth: identity, reports });
  // Before targetRoutes, whose /v1/targets/:id would take 'browse' and 'complete' for ids.
  const browse = new TargetBrowseStore(db);
  targetBrowseRoutes(router, {
    auth: identity,
    browser: new TargetBrowser({ fleet, index: targetStore, browse }),
    completion: new QueryCompletion({ browse, fieldNames: () => targetStore.knownFieldNames() }),
    scope,
  });
  targetRoutes(router, { auth: identity, targets, scope });
  auditRoutes(router, { auth: identity, audit: auditService, clock, log, scope });
  driftRoutes(router, { auth: identity, drift });
  incidentRoutes(router, { auth: identity, incidents });
  rolloutRoutes(router, {
    auth: identity,
    rollouts,
    scope,
    rolloutScope: new RolloutScope({ rollouts: rolloutStore, fleet, scope, refusals, clock }),
  });
  policyRoutes(router, { auth: identity, policies: policyService, planner, approvals, scope, selectors: fleet });
  approvalStatusRoutes(router, {
    auth: identity,
    rollouts: {
      view: (id, listing, limit) => rollouts.view(id, listing, limit),
      subject: (id) => rolloutStore.subject(id),
    },
    policies: policyService,
    approvals,
  });
  policySetRoutes(router, { auth: identity, sets: policySets });
  offlineRoutes(router, { auth: identity, offline });
  dashboardRoutes(router, { auth: identity, audit, dashboard, scope, targets: targetStore, clock });
  const server = createHttpServer(router, {
    log,
    maxWaitSeconds,
    authorize: (req) => dashboard.authorize(req),
    storeError: (error) => store.asRefusal(error, 'request'),
    requests: metrics,
  });
  server.prependListener('request', () => replicas.beforeRequest());
  server.on('upgrade', (req, socket, head) => {
    replicas.beforeRequest();
    streams.upgrade(req, socket, head);
  });
  if (deps.maxConnections !== undefined) server.maxConnections = deps.maxConnections;

  await replicas.start(store);
  seen.start(deps.lastSeenFlushMs);
  identity.start();
  streams.start();
  auditSchedule.start();
  reportRetention.start();
  freePages?.start();
  if (deps.rolloutPollMs !== 0) rollouts.start({ pollMs: deps.rolloutPollMs ?? 250 });

  return {
    services: {
      tx,
      audit,
      trust,
      identity,
      operators,
      targets,
      fleet,
      bundles,
      desired,
      reports,
      reportRetention,
      rollouts,
      drift,
      incidents,
      policies: policyService,
      planner,
      approvals,
      offline,
      dashboard,
      streams,
    },
    server,
    routes: router.list(),
    metrics,
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
      identity.stop();
      rollouts.stop();
      await reportRetention.close();
      await freePages?.close();
      dashboard.close();
      desired.wakeAll();
      await streams.close();
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
      await intake.close();
      seen.stop();
      auditSchedule.close();
      await replicas.close();
      try {
        targetStore.saveFleetIndexSnapshot(clock());
      } catch (error) {
        log.warn({ err: error }, 'keeping the fleet query index for the next start failed; it will rebuild');
      }
      store.stop();
      budget.close();
    },
  };
}
