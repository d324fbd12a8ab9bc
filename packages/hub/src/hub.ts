import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { HubStore } from './store/hub-store.ts';
import type { Db } from './store/database.ts';
import { createHttpServer } from './http/server.ts';
import type { HubServices } from './http/services.ts';
import type { AuditSink } from './services/audit-sink.ts';
import { BundleService } from './services/bundles.ts';
import { systemClock, type Clock } from './services/clock.ts';
import { DEFAULT_ENVELOPE_TTL_MS, DesiredStateService } from './services/desired-state.ts';
import { IdentityService } from './services/identity.ts';
import { ReportService } from './services/reports.ts';
import { SeenTracker } from './services/seen-tracker.ts';
import { TargetCache } from './services/target-cache.ts';
import { TargetService } from './services/targets.ts';
import { TrustService, type HubKeys } from './services/trust.ts';

export interface HubDependencies {
  readonly db: Db;
  readonly log: Logger;
  readonly keys: HubKeys;
  /** Builds the audit log over the hub's database; it must append inside callers' transactions. */
  readonly audit: (db: Db) => AuditSink;
  readonly clock?: Clock;
  readonly envelopeTtlMs?: number;
  readonly accessTokenSeconds?: number;
  readonly maxWaitSeconds?: number;
}

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
  const clock = deps.clock ?? systemClock;
  const store = new HubStore(deps.db);
  const audit = deps.audit(deps.db);
  const cache = new TargetCache(store);
  const trust = new TrustService(store, deps.keys, clock);
  const identity = await IdentityService.create({ store, trust, targets: cache, audit, clock, keys: deps.keys, ...(deps.accessTokenSeconds === undefined ? {} : { accessTokenSeconds: deps.accessTokenSeconds }) });
  const desired = new DesiredStateService(store, trust, cache, audit, clock, deps.keys, deps.envelopeTtlMs ?? DEFAULT_ENVELOPE_TTL_MS);
  const services: HubServices = {
    store,
    log: deps.log,
    clock,
    audit,
    trust,
    identity,
    desired,
    reports: new ReportService(store, cache, audit, clock),
    bundles: new BundleService(store, trust, audit, clock),
    targets: new TargetService(store, cache, audit, clock),
    seen: new SeenTracker(store, clock),
    maxWaitSeconds: deps.maxWaitSeconds ?? 60,
  };
  const jtiSweep = setInterval(() => store.pruneJtis(clock()), 60_000);
  jtiSweep.unref();
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
      desired.wakeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      services.seen.close();
    },
  };
}
