import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FlotillaError, isFlotillaError, messageOf, type FaultPoints } from '@flotilla/protocol';
import { openDatabase, type Db } from './store/database.ts';
import { openPostgres } from './store/postgres/postgres-database.ts';
import { redactedUrl } from './store/postgres/redacted-url.ts';
import { isStorageError } from './store/store-health.ts';
import { WalCheckpointer } from './store/wal-checkpointer.ts';
import { createHub, type Hub, type HubDependencies } from './hub.ts';
import type { Clock } from './clock.ts';
import type { EnvelopeDriftPolicy } from './features/desired-state/desired-state-service.ts';
import { AuditLog } from './features/audit/audit-log.ts';
import { TrustStore } from './features/identity/trust-store.ts';
import { loadOrCreateKeyFile, writeSecretFile } from './key-files.ts';

export interface OpenHubOptions {
  readonly dataDir: string;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly envelopeTtlMs?: number;
  /**
   * How new envelopes carry the drift policy: by digest (default), or `inline` while agents that
   * predate `driftPolicyDigest` remain, which refuse an envelope naming it (docs/drift.md).
   */
  readonly envelopeDriftPolicy?: EnvelopeDriftPolicy;
  readonly accessTokenSeconds?: number;
  readonly maxWaitSeconds?: number;
  /** The most envelopes one batch of a rollout wave issues before it commits and yields; default 256. */
  readonly rolloutIssueBatch?: number;
  /** The most members one step of a rollout wave records before it commits and yields; default 1000. */
  readonly rolloutEnlistSlice?: number;
  /** How long a wave's member waits for its agent's fetch before a batch issues its envelope; default 2 s. */
  readonly rolloutIssueDelayMs?: number;
  /** See {@link HubDependencies.turnBudgetMs}. */
  readonly turnBudgetMs?: number;
  /** How often the audit chain head is signed when it moved; default 5 minutes, 0 never. */
  readonly checkpointIntervalMs?: number;
  /** Prune audit entries older than this (at least a day); default keep forever. */
  readonly auditRetentionMs?: number;
  /** Prune agents' reports received longer ago than this, each target's newest excepted (at least an hour); default 30 days. */
  readonly reportRetentionMs?: number;
  /** Test-only (`FLOTILLA_TEST_REPORT_PRUNE_BATCH`): the most reports one batch of a prune removes; default 500. */
  readonly reportPruneBatch?: number;
  /** The built dashboard's folder; default packages/dashboard/dist. */
  readonly dashboardDir?: string;
  /** How often the dashboard's event stream reads the audit log; default 250 ms. */
  readonly eventPollMs?: number;
  /** Test-only crash points (`FLOTILLA_FAULT`, docs/operations.md); default none. */
  readonly faults?: FaultPoints;
  /**
   * Test-only (`FLOTILLA_TEST_STORE_MAX_PAGES`, docs/operations.md): the most pages the hub's
   * database may grow to, so a test fills the store without filling a disk; default no limit.
   */
  readonly testStoreMaxPages?: number;
  /**
   * A PostgreSQL URL: the store lives there, shared by every replica (docs/scale-out.md);
   * keys and the admin token stay in `dataDir`. Unset: SQLite, `hub.db` in `dataDir`.
   */
  readonly database?: string;
  /** How often a write is tried while the store cannot write; default 1 s. */
  readonly storeProbeMs?: number;
  /** How often agents' last-seen times reach the store; default 5 s. */
  readonly lastSeenFlushMs?: number;
  /** The agents' push streams: heartbeat, caps, Retry-After (`createHub`). */
  readonly stream?: HubDependencies['stream'];
  /** The most connections the server holds at once. */
  readonly maxConnections?: number;
  /** Worker threads that read and verify agents' reports; 0 on the event loop (`createHub`). */
  readonly reportWorkers?: number;
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
  const { dataDir } = options;
  preparing(`the data directory ${dataDir}`, () => {
    if (existsSync(dataDir) && !statSync(dataDir).isDirectory())
      throw Object.assign(new Error('it is not a directory'), { code: 'ENOTDIR' });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  });
  const dbPath = options.database === undefined ? join(dataDir, 'hub.db') : redactedUrl(options.database);
  let checkpointer: WalCheckpointer | undefined;
  const db: Db = preparing(`the hub database ${dbPath}`, () => {
    if (options.database !== undefined) return openPostgres(options.database);
    // SQLite gives its -wal and -shm files the database file's mode: create that file 0600
    // first, so none of the three is ever readable by others, whatever the umask.
    closeSync(openSync(dbPath, 'a', 0o600));
    const sqlite = openDatabase(
      dbPath,
      undefined,
      options.testStoreMaxPages === undefined ? {} : { testMaxPageCount: options.testStoreMaxPages },
    );
    checkpointer = new WalCheckpointer(sqlite, dbPath, {
      log: options.log,
      ...(options.faults?.armed === undefined ? {} : { faults: options.faults.armed }),
    });
    return sqlite;
  });
  // Started while file descriptors are free, before the hub listens; until it is ready the
  // hub's own commits checkpoint, as SQLite does by default.
  await checkpointer?.ready;
  if (options.testStoreMaxPages !== undefined)
    options.log.warn({ maxPages: options.testStoreMaxPages }, 'test-only store page limit in force');
  const rootPath = join(dataDir, 'keys', 'root.json');
  // The root key is made on the first start, to sign trust root v1; an operator may then take
  // it offline, and the hub runs on without it (docs/security.md#offline-root).
  const rootKeyNeeded = existsSync(rootPath) || new TrustStore(db).latest() === undefined;
  const keys = {
    hub: preparing(`the hub key in ${dataDir}`, () => loadOrCreateKeyFile(join(dataDir, 'keys', 'hub.json'))),
    root: rootKeyNeeded ? preparing(`the root key in ${dataDir}`, () => loadOrCreateKeyFile(rootPath)) : undefined,
  };
  if (keys.root === undefined)
    options.log.info({ rootPath }, 'no root key on this hub: trust root versions are signed offline and published');
  const clock = options.clock ?? Date.now;
  const hub = await preparingAsync(`the hub database ${dbPath}`, () =>
    createHub({
      db,
      log: options.log,
      keys,
      clock,
      audit: (database) => new AuditLog({ db: database, clock, signer: keys.hub, log: options.log }),
      ...(options.envelopeTtlMs === undefined ? {} : { envelopeTtlMs: options.envelopeTtlMs }),
      ...(options.envelopeDriftPolicy === undefined ? {} : { envelopeDriftPolicy: options.envelopeDriftPolicy }),
      ...(options.accessTokenSeconds === undefined ? {} : { accessTokenSeconds: options.accessTokenSeconds }),
      ...(options.maxWaitSeconds === undefined ? {} : { maxWaitSeconds: options.maxWaitSeconds }),
      ...(options.rolloutIssueBatch === undefined ? {} : { rolloutIssueBatch: options.rolloutIssueBatch }),
      ...(options.rolloutEnlistSlice === undefined ? {} : { rolloutEnlistSlice: options.rolloutEnlistSlice }),
      ...(options.rolloutIssueDelayMs === undefined ? {} : { rolloutIssueDelayMs: options.rolloutIssueDelayMs }),
      ...(options.turnBudgetMs === undefined ? {} : { turnBudgetMs: options.turnBudgetMs }),
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      ...(options.auditRetentionMs === undefined ? {} : { auditRetentionMs: options.auditRetentionMs }),
      ...(options.reportRetentionMs === undefined ? {} : { reportRetentionMs: options.reportRetentionMs }),
      ...(options.reportPruneBatch === undefined ? {} : { reportPruneBatch: options.reportPruneBatch }),
      ...(options.dashboardDir === undefined ? {} : { dashboardDir: options.dashboardDir }),
      ...(options.eventPollMs === undefined ? {} : { eventPollMs: options.eventPollMs }),
      ...(options.faults === undefined ? {} : { faults: options.faults }),
      ...(options.storeProbeMs === undefined ? {} : { storeProbeMs: options.storeProbeMs }),
      ...(options.lastSeenFlushMs === undefined ? {} : { lastSeenFlushMs: options.lastSeenFlushMs }),
      ...(options.stream === undefined ? {} : { stream: options.stream }),
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.reportWorkers === undefined ? {} : { reportWorkers: options.reportWorkers }),
    }),
  );
  const adminTokenPath = join(options.dataDir, 'admin-token');
  const createdAdminToken = preparing(`the hub database ${dbPath}`, () => hub.services.identity.bootstrapAdminToken());
  if (createdAdminToken !== undefined)
    preparing(`the admin token file ${adminTokenPath}`, () =>
      writeSecretFile(adminTokenPath, `${createdAdminToken}\n`),
    );
  else if (!existsSync(adminTokenPath))
    options.log.warn({ adminTokenPath }, 'admin token file is gone; the hub keeps only its hash');
  const close = hub.close.bind(hub);
  return {
    hub: {
      ...hub,
      close: async () => {
        await close();
        // The worker's connection closed first, so that the hub's, the last, checkpoints the
        // whole WAL and removes it.
        await checkpointer?.close();
        db.close();
      },
    },
    adminTokenPath,
    createdAdminToken,
  };
}

/**
 * Runs one step of opening the hub on its data directory; a failure of the file system or
 * the database (no such directory, no space, no permission, a lock held elsewhere) becomes one
 * readable error naming `what` and the cause, not a stack trace.
 */
function preparing<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw unusable(what, error);
  }
}

async function preparingAsync<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unusable(what, error);
  }
}

function unusable(what: string, error: unknown): unknown {
  if (isFlotillaError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  const hint = STORAGE_HINTS.find(([pattern]) => pattern.test(code))?.[1];
  if (hint === undefined && !isStorageError(error)) return error;
  return new FlotillaError(
    'STORE_UNAVAILABLE',
    `cannot use ${what}: ${messageOf(error)} (${code})${hint === undefined ? '' : `; ${hint}`}`,
    { code },
  );
}

const STORAGE_HINTS: readonly (readonly [RegExp, string])[] = [
  [/^(ENOSPC|EDQUOT|SQLITE_FULL)/, 'the disk is full: free some space, or give the hub another --data-dir'],
  [/^(EACCES|EPERM|SQLITE_READONLY|SQLITE_CANTOPEN)/, 'check that the directory exists and this user may write to it'],
  [/^EROFS/, 'the file system is read-only'],
  [/^(ENOTDIR|EEXIST)/, 'the path (or a part of it) is a file, not a directory'],
  [/^(EIO|SQLITE_IOERR)/, 'the disk may be full or failing'],
  [/^SQLITE_(BUSY|LOCKED)/, 'another process holds the database; stop it, or give the hub another --data-dir'],
];

export { redactedUrl };
