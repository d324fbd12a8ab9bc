import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FaultSpec, FlotillaError, parseHubUrls } from '@flotilla/protocol';
import { selectContext, type CliConfig } from './cli/contexts.ts';
import { TURN_BUDGET_MS } from './turn-budget.ts';

const DEFAULT_DATA_DIR = '.flotilla/hub';
const DEFAULT_PORT = 7070;
const PORT_RULE = 'must be a port number from 0 to 65535 (0 for any free one)';
const PAGES_RULE = 'FLOTILLA_TEST_STORE_MAX_PAGES must be a whole number of pages, at least 1';
const TURN_BUDGET_RULE = 'must be a whole number of milliseconds from 1 to 1000';

const UNIT_SECONDS = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;
type DurationUnit = keyof typeof UNIT_SECONDS;

/** A whole number with one of `units` after it (`''`: none, seconds), in seconds; undefined when `text` is not one. */
function durationSeconds(text: string, units: readonly DurationUnit[]): number | undefined {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(text);
  const unit = match?.[2] as DurationUnit | undefined;
  if (unit === undefined || !units.includes(unit)) return undefined;
  return Number(match![1]) * UNIT_SECONDS[unit];
}

/** Seconds as a number (`300`) or a duration (`90s`, `5m`, `1h`, `1d`). */
const Seconds = z.preprocess(
  (value) => (typeof value === 'string' ? (durationSeconds(value, ['', 's', 'm', 'h', 'd']) ?? value) : value),
  z.number({ error: 'expected seconds, or a duration such as 90s, 5m, 1h' }).int(),
);

const RETENTION_RULE = 'must be a duration in hours or days, such as 30d or 12h: at least 1h, at most 36500d';

/** A retention in milliseconds, from a duration in hours or days (`12h`, `30d`). */
const Retention = z
  .string({ error: RETENTION_RULE })
  .regex(/^\s*\d+\s*[hd]\s*$/, { error: RETENTION_RULE })
  .transform((text) => durationSeconds(text, ['h', 'd'])! * 1000)
  .refine((ms) => ms >= 3_600_000 && ms <= 36_500 * 86_400_000, { error: RETENTION_RULE });

const ServeConfig = z.object({
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  /** A PostgreSQL URL for the store; unset: SQLite in the data directory (docs/scale-out.md). */
  database: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, {
      error: 'must be a PostgreSQL URL, postgres://user:password@host:5432/database',
    })
    .optional(),
  port: z.coerce
    .number({ error: PORT_RULE })
    .int({ error: PORT_RULE })
    .min(0, { error: PORT_RULE })
    .max(65535, { error: PORT_RULE })
    .default(DEFAULT_PORT),
  host: z.string().min(1).default('127.0.0.1'),
  /** Serve Prometheus metrics at `/metrics` on this port, without authentication; unset: no metrics listener. */
  metricsPort: z.coerce
    .number({ error: PORT_RULE })
    .int({ error: PORT_RULE })
    .min(0, { error: PORT_RULE })
    .max(65535, { error: PORT_RULE })
    .optional(),
  /** Address of the metrics listener; unset: the same as `host`. */
  metricsHost: z.string().min(1).optional(),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be fatal, error, warn, info, debug, trace or silent',
    })
    .default('info'),
  /** Unset: readable lines on a terminal, JSON lines otherwise. */
  logFormat: z.enum(['json', 'pretty'], { error: 'must be json or pretty' }).optional(),
  envelopeTtlSeconds: z.coerce
    .number()
    .int()
    .min(60)
    .max(60 * 60 * 24 * 30)
    .default(60 * 60 * 24),
  /** How new envelopes carry the drift policy: by digest, whole for agents that predate digests, or each agent's way (auto). */
  envelopeDriftPolicy: z
    .enum(['digest', 'inline', 'auto'], { error: 'must be digest, inline or auto' })
    .default('digest'),
  /** Seconds between audit checkpoints over the chain head (only when it moved); 0 never. */
  checkpointInterval: Seconds.refine(
    (s) => s === 0 || (s >= 1 && s <= 86_400),
    'the checkpoint interval must be 0 (never) or 1 second to 1 day',
  ).default(300),
  /** Days of audit log to keep; older entries are pruned behind a signed anchor. Unset: keep forever. */
  auditRetentionDays: z.coerce.number().int().min(1).max(36_500).optional(),
  /** How long agents' reports are kept, in milliseconds, from `30d` or `12h`; each target's newest is kept whatever its age (docs/operations.md). */
  reportRetention: Retention.default(30 * 86_400_000),
  /** Test-only: the most reports one batch of a prune removes, from FLOTILLA_TEST_REPORT_PRUNE_BATCH only (docs/operations.md). */
  testReportPruneBatch: z.coerce.number().int().min(1).max(100_000).optional(),
  /** Test-only crash points, from FLOTILLA_FAULT only (docs/operations.md). */
  faults: FaultSpec.default([]),
  /** Test-only page limit on the hub's database, from FLOTILLA_TEST_STORE_MAX_PAGES only (docs/operations.md). */
  testStoreMaxPages: z.coerce
    .number({ error: PAGES_RULE })
    .int({ error: PAGES_RULE })
    .min(1, { error: PAGES_RULE })
    .optional(),
  /** The most connections held at once; default the open-file limit less what the hub keeps for itself. */
  maxConnections: z.coerce.number().int().min(16).optional(),
  /** Worker threads that read and verify agents' reports; 0 reads them on the event loop; default one less than the cores, 1 to 4. */
  reportWorkers: z.coerce
    .number({ error: 'must be a whole number of worker threads from 0 to 64' })
    .int({ error: 'must be a whole number of worker threads from 0 to 64' })
    .min(0, { error: 'must be a whole number of worker threads from 0 to 64' })
    .max(64, { error: 'must be a whole number of worker threads from 0 to 64' })
    .optional(),
  /** How often the hub pings each agent stream and closes those whose token expired. */
  streamHeartbeatSeconds: z.coerce.number().int().min(1).max(600).default(30),
  /** The most envelopes one batch of a rollout wave issues before it commits and yields to other requests. */
  rolloutIssueBatch: z.coerce.number().int().min(1).max(10_000).default(256),
  /** The most members one step of a rollout wave records before it commits and yields to other requests. */
  rolloutEnlistSlice: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** How long a wave's member waits for its agent's fetch before a batch issues its envelope, in milliseconds. */
  rolloutIssueDelayMs: z.coerce.number().int().min(0).max(3_600_000).default(2000),
  /** What the hub's sliced work may take of one turn of the event loop, all of it together, in milliseconds. */
  turnBudgetMs: z.coerce
    .number({ error: TURN_BUDGET_RULE })
    .int({ error: TURN_BUDGET_RULE })
    .min(1, { error: TURN_BUDGET_RULE })
    .max(1000, { error: TURN_BUDGET_RULE })
    .default(TURN_BUDGET_MS),
});
export type ServeConfig = z.infer<typeof ServeConfig>;

const ClientFlags = z.object({
  hub: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  dataDir: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
});

/** The hub the operator commands call, the token they send, and where that token came from. */
export interface ClientConfig {
  readonly hub: string;
  readonly token: string | undefined;
  /** Where the token was found, such as `--token-file /path` or `context prod`, for messages. */
  readonly tokenSource: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success)
    throw new FlotillaError(
      'CONFIG_INVALID',
      result.error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`).join('; '),
    );
  return result.data;
}

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

/** `flotilla hub serve`: flags win over FLOTILLA_* variables, which win over defaults. */
export function serveConfig(flags: Record<string, unknown>, env: Env): ServeConfig {
  return parse(ServeConfig, {
    ...defined({
      dataDir: env['FLOTILLA_DATA_DIR'],
      database: env['FLOTILLA_DATABASE_URL'] || undefined,
      port: env['FLOTILLA_PORT'],
      host: env['FLOTILLA_HOST'],
      metricsPort: env['FLOTILLA_METRICS_PORT'],
      metricsHost: env['FLOTILLA_METRICS_HOST'],
      logLevel: env['FLOTILLA_LOG_LEVEL'],
      logFormat: env['FLOTILLA_LOG_FORMAT'],
      envelopeTtlSeconds: env['FLOTILLA_ENVELOPE_TTL_SECONDS'],
      envelopeDriftPolicy: env['FLOTILLA_ENVELOPE_DRIFT_POLICY'],
      checkpointInterval: env['FLOTILLA_AUDIT_CHECKPOINT_SECONDS'],
      auditRetentionDays: env['FLOTILLA_AUDIT_RETENTION_DAYS'],
      reportRetention: env['FLOTILLA_REPORT_RETENTION'],
      testReportPruneBatch: env['FLOTILLA_TEST_REPORT_PRUNE_BATCH'] || undefined,
      faults: env['FLOTILLA_FAULT'],
      testStoreMaxPages: env['FLOTILLA_TEST_STORE_MAX_PAGES'] || undefined,
      maxConnections: env['FLOTILLA_MAX_CONNECTIONS'],
      reportWorkers: env['FLOTILLA_REPORT_WORKERS'],
      streamHeartbeatSeconds: env['FLOTILLA_STREAM_HEARTBEAT_SECONDS'],
      rolloutIssueBatch: env['FLOTILLA_ROLLOUT_ISSUE_BATCH'],
      rolloutEnlistSlice: env['FLOTILLA_ROLLOUT_ENLIST_SLICE'],
      rolloutIssueDelayMs: env['FLOTILLA_ROLLOUT_ISSUE_DELAY_MS'],
      turnBudgetMs: env['FLOTILLA_TURN_BUDGET_MS'],
    }),
    ...defined(flags),
  });
}

/**
 * The operator's config file of contexts: `$XDG_CONFIG_HOME/flotilla/config.yaml`, else
 * `~/.config/flotilla/config.yaml`.
 */
export function cliConfigPath(env: Env): string {
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'flotilla', 'config.yaml');
}

/**
 * Reads an API token from a file (`-`: standard input). A missing or empty file is an error
 * that names the file and where it was given, never a silent request without a token.
 */
export function readTokenFile(path: string, source: string): string {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : resolve(path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FlotillaError(
      'CONFIG_INVALID',
      code === 'ENOENT'
        ? `the token file ${path} (${source}) does not exist; give a file that holds an API token (a hub writes its first admin token to admin-token in its data directory), or save one with flotilla login`
        : `cannot read the token file ${path} (${source}): ${code ?? 'unknown error'}; check the path and its permissions`,
    );
  }
  const token = text.trim();
  if (token === '')
    throw new FlotillaError(
      'CONFIG_INVALID',
      `the token file ${path === '-' ? 'on standard input' : path} (${source}) is empty; it should hold an API token`,
    );
  return token;
}

/** Whether every hub `a` names (one URL, or several separated by commas) is one of the hubs `b` names. */
function sameHubs(a: string, b: string): boolean {
  try {
    const origins = new Set(parseHubUrls(b, 'hub').map((url) => new URL(url).origin));
    return parseHubUrls(a, 'hub').every((url) => origins.has(new URL(url).origin));
  } catch {
    return false;
  }
}

/**
 * The operator commands' hub and token. Flags win over FLOTILLA_* variables, which win over
 * the context (--context, FLOTILLA_CONTEXT, else the current one), which wins over the
 * defaults. The token is the first of: --token, --token-file, the admin token of --data-dir,
 * FLOTILLA_TOKEN, FLOTILLA_TOKEN_FILE, the admin token of FLOTILLA_DATA_DIR, the context's
 * token (only when the hub in use is the context's hub, so a token never goes to another
 * hub by accident), and the admin token of the local hub's default data directory.
 */
export function clientConfig(flags: Record<string, unknown>, env: Env, contexts: CliConfig): ClientConfig {
  const given = parse(ClientFlags, defined(flags));
  const context = selectContext(contexts, given.context ?? (env['FLOTILLA_CONTEXT'] || undefined));
  const explicitHub = given.hub ?? (env['FLOTILLA_HUB'] || undefined);
  const hub = explicitHub ?? context?.hub ?? `http://127.0.0.1:${DEFAULT_PORT}`;
  const found = (token: string | undefined, tokenSource: string): ClientConfig => ({
    hub,
    token,
    tokenSource: token === undefined ? undefined : tokenSource,
  });
  const adminToken = (dir: string, source: string, required: boolean): string | undefined => {
    const file = join(dir, 'admin-token');
    return required || existsSync(file) ? readTokenFile(file, source) : undefined;
  };
  if (given.token !== undefined) return found(given.token, '--token');
  if (given.tokenFile !== undefined)
    return found(readTokenFile(given.tokenFile, '--token-file'), `--token-file ${given.tokenFile}`);
  if (given.dataDir !== undefined)
    return found(adminToken(given.dataDir, '--data-dir', true), `--data-dir ${given.dataDir}`);
  const envToken = env['FLOTILLA_TOKEN'];
  if (envToken) return found(envToken, 'FLOTILLA_TOKEN');
  const envTokenFile = env['FLOTILLA_TOKEN_FILE'];
  if (envTokenFile)
    return found(readTokenFile(envTokenFile, 'FLOTILLA_TOKEN_FILE'), `FLOTILLA_TOKEN_FILE ${envTokenFile}`);
  const envDataDir = env['FLOTILLA_DATA_DIR'];
  const fromEnvDir = envDataDir ? adminToken(envDataDir, 'FLOTILLA_DATA_DIR', false) : undefined;
  if (fromEnvDir !== undefined) return found(fromEnvDir, `FLOTILLA_DATA_DIR ${envDataDir}`);
  if (context !== undefined && (explicitHub === undefined || sameHubs(explicitHub, context.hub)))
    return found(context.token, `context ${context.name}`);
  return found(adminToken(DEFAULT_DATA_DIR, 'the default data directory', false), `${DEFAULT_DATA_DIR}/admin-token`);
}
