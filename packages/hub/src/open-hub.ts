import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FaultPoints } from '@flotilla/protocol';
import { openDatabase } from './store/database.ts';
import { createHub, type Hub } from './hub.ts';
import type { Clock } from './clock.ts';
import { AuditLog } from './features/audit/audit-log.ts';
import { loadOrCreateKeyFile, writeSecretFile } from './key-files.ts';

export interface OpenHubOptions {
  readonly dataDir: string;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly envelopeTtlMs?: number;
  readonly accessTokenSeconds?: number;
  readonly maxWaitSeconds?: number;
  /** How often the audit chain head is signed when it moved; default 5 minutes, 0 never. */
  readonly checkpointIntervalMs?: number;
  /** Prune audit entries older than this (at least a day); default keep forever. */
  readonly auditRetentionMs?: number;
  /** The built dashboard's folder; default packages/dashboard/dist. */
  readonly dashboardDir?: string;
  /** How often the dashboard's event stream reads the audit log; default 250 ms. */
  readonly eventPollMs?: number;
  /** Test-only crash points (`FLOTILLA_FAULT`, docs/operations.md); default none. */
  readonly faults?: FaultPoints;
}

export interface OpenedHub {
  readonly hub: Hub;
  /** Where the first admin token was written, mode 0600. */
  readonly adminTokenPath: string;
  /** The admin token, only on the start that created it. */
  readonly createdAdminToken: string | undefined;
}

/**
 * A hub on a data directory: `hub.db` (SQLite, WAL), `keys/` (hub and root keys) and
 * `admin-token`, all created on first start, mode 0600 in directories of mode 0700.
 */
export async function openHub(options: OpenHubOptions): Promise<OpenedHub> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const dbPath = join(options.dataDir, 'hub.db');
  // SQLite gives its -wal and -shm files the database file's mode: create that file 0600
  // first, so none of the three is ever readable by others, whatever the umask.
  closeSync(openSync(dbPath, 'a', 0o600));
  const db = openDatabase(dbPath);
  const keys = {
    hub: loadOrCreateKeyFile(join(options.dataDir, 'keys', 'hub.json')),
    root: loadOrCreateKeyFile(join(options.dataDir, 'keys', 'root.json')),
  };
  const clock = options.clock ?? Date.now;
  const hub = await createHub({
    db,
    log: options.log,
    keys,
    clock,
    audit: (database) => new AuditLog({ db: database, clock, signer: keys.hub, log: options.log }),
    ...(options.envelopeTtlMs === undefined ? {} : { envelopeTtlMs: options.envelopeTtlMs }),
    ...(options.accessTokenSeconds === undefined ? {} : { accessTokenSeconds: options.accessTokenSeconds }),
    ...(options.maxWaitSeconds === undefined ? {} : { maxWaitSeconds: options.maxWaitSeconds }),
    ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
    ...(options.auditRetentionMs === undefined ? {} : { auditRetentionMs: options.auditRetentionMs }),
    ...(options.dashboardDir === undefined ? {} : { dashboardDir: options.dashboardDir }),
    ...(options.eventPollMs === undefined ? {} : { eventPollMs: options.eventPollMs }),
    ...(options.faults === undefined ? {} : { faults: options.faults }),
  });
  const adminTokenPath = join(options.dataDir, 'admin-token');
  const createdAdminToken = hub.services.identity.bootstrapAdminToken();
  if (createdAdminToken !== undefined) writeSecretFile(adminTokenPath, `${createdAdminToken}\n`);
  else if (!existsSync(adminTokenPath))
    options.log.warn({ adminTokenPath }, 'admin token file is gone; the hub keeps only its hash');
  const close = hub.close.bind(hub);
  return {
    hub: {
      ...hub,
      close: async () => {
        await close();
        db.close();
      },
    },
    adminTokenPath,
    createdAdminToken,
  };
}
