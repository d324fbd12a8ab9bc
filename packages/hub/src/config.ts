import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FlotillaError } from '@flotilla/protocol';

const DEFAULT_DATA_DIR = '.flotilla/hub';
const DEFAULT_PORT = 7070;

/** Seconds as a number (`300`) or a duration (`90s`, `5m`, `1h`, `1d`). */
const Seconds = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(value);
    if (match === null) return value;
    return (
      Number(match[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const)[match[2] as '' | 's' | 'm' | 'h' | 'd']
    );
  },
  z.number({ error: 'expected seconds, or a duration such as 90s, 5m, 1h' }).int(),
);

const ServeConfig = z.object({
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  port: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
  host: z.string().min(1).default('127.0.0.1'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  envelopeTtlSeconds: z.coerce
    .number()
    .int()
    .min(60)
    .max(60 * 60 * 24 * 30)
    .default(60 * 60 * 24),
  /** Seconds between audit checkpoints over the chain head (only when it moved); 0 never. */
  checkpointInterval: Seconds.refine(
    (s) => s === 0 || (s >= 1 && s <= 86_400),
    'the checkpoint interval must be 0 (never) or 1 second to 1 day',
  ).default(300),
  /** Days of audit log to keep; older entries are pruned behind a signed anchor. Unset: keep forever. */
  auditRetentionDays: z.coerce.number().int().min(1).max(36_500).optional(),
});
export type ServeConfig = z.infer<typeof ServeConfig>;

const ClientConfig = z.object({
  hub: z.string().min(1).default(`http://127.0.0.1:${DEFAULT_PORT}`),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
});
export type ClientConfig = { hub: string; token: string | undefined };

type Env = Readonly<Record<string, string | undefined>>;

function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new FlotillaError('CONFIG_INVALID', z.prettifyError(result.error).replace(/\n/g, '; '));
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
      port: env['FLOTILLA_PORT'],
      host: env['FLOTILLA_HOST'],
      logLevel: env['FLOTILLA_LOG_LEVEL'],
      envelopeTtlSeconds: env['FLOTILLA_ENVELOPE_TTL_SECONDS'],
      checkpointInterval: env['FLOTILLA_AUDIT_CHECKPOINT_SECONDS'],
      auditRetentionDays: env['FLOTILLA_AUDIT_RETENTION_DAYS'],
    }),
    ...defined(flags),
  });
}

/**
 * The operator commands' hub address and token. Without --token or FLOTILLA_TOKEN the token
 * is read from --token-file, or from the admin-token file of the local hub's data directory.
 */
export function clientConfig(flags: Record<string, unknown>, env: Env): ClientConfig {
  const config = parse(ClientConfig, {
    ...defined({
      hub: env['FLOTILLA_HUB'],
      token: env['FLOTILLA_TOKEN'],
      tokenFile: env['FLOTILLA_TOKEN_FILE'],
      dataDir: env['FLOTILLA_DATA_DIR'],
    }),
    ...defined(flags),
  });
  if (config.token !== undefined) return { hub: config.hub, token: config.token };
  const file = config.tokenFile ?? join(config.dataDir, 'admin-token');
  try {
    return { hub: config.hub, token: readFileSync(resolve(file), 'utf8').trim() };
  } catch {
    return { hub: config.hub, token: undefined };
  }
}
