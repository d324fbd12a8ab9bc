import { z } from 'zod';
import { FaultSpec, FlotillaError, messageOf, parseHubUrls } from '@flotilla/protocol';
import { IDENTITY_SECRET_NAME } from './drivers/kubernetes/secret-agent-store.ts';

// Flags arrive as booleans, environment variables as strings such as "false" or "0".
const flag = z.preprocess((value) => (typeof value === 'boolean' ? String(value) : value), z.stringbool());
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lower-case DNS label (letters, digits, -; at most 63)');
const dnsSubdomain = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a lower-case DNS subdomain');

/** The air-gap settings (docs/air-gap.md), shared by `run` and `offline`. */
const OFFLINE_SETTINGS = {
  /** A directory watched for transfer files and receipts. */
  inbox: z.string().min(1).optional(),
  /** The site registry images from transfer files are pushed into. */
  registry: z.url({ protocol: /^https?$/ }).optional(),
  /** Its credentials: a Docker config.json, or a Kubernetes Secret manifest. */
  registryCredentials: z.string().min(1).optional(),
} as const;

/** The running agent's outbox (docs/air-gap.md): reports files for a data diode to carry. */
const OUTBOX_SETTINGS = {
  outbox: z.string().min(1).optional(),
  /** How often the outbox gets a new file when the journal moved on. */
  outboxSeconds: z.coerce.number().int().min(1).max(86_400).default(300),
} as const;

/** One hub URL or several replicas' (comma-separated; a repeated flag arrives so), each checked. */
const hubUrls = z.string().transform((value, ctx) => {
  try {
    return parseHubUrls(value, 'each hub');
  } catch (error) {
    ctx.issues.push({ code: 'custom', message: messageOf(error), input: value });
    return z.NEVER;
  }
});

const RunConfig = z
  .object({
    /** The hub replicas, in order of preference: the agent uses one and moves on when it stops answering. */
    hub: hubUrls,
    enrollToken: z.string().min(1).optional(),
    stateDir: z.string().min(1),
    name: z.string().min(1).optional(),
    driver: z.enum(['manifests-dir', 'kubernetes']),
    root: z.string().min(1).optional(),
    /** kubernetes: a kubeconfig file; without one the agent uses its pod's service account. */
    kubeconfig: z.string().min(1).optional(),
    /** kubernetes: a kubeconfig context other than the current one. */
    context: z.string().min(1).optional(),
    /** kubernetes: where the Lease and the identity Secret live; default the pod's namespace. */
    namespace: dnsLabel.optional(),
    /** kubernetes: this pod's name, the candidate's identity in the Lease; default the hostname. */
    podName: z.string().min(1).max(253).optional(),
    /** kubernetes: the node the pod runs on, for logs, status and facts. */
    nodeName: z.string().min(1).max(253).optional(),
    leaderElection: flag.default(true),
    leaseName: dnsSubdomain.default('flotilla-agent'),
    leaseSeconds: z.coerce.number().int().min(1).max(300).default(15),
    identitySecret: dnsSubdomain.default(IDENTITY_SECRET_NAME),
    /** A root key id (`flotilla keys ls`) the hub's trust root must hold at enrollment. */
    trustRootPin: z
      .string()
      .regex(
        /^[0-9a-f]{16}$|^[A-Za-z0-9_-]{43}$/,
        'must be a root key id (16 hex digits, from `flotilla keys ls`) or a base64url public key',
      )
      .optional(),
    healthPort: z.coerce.number().int().min(0).max(65535).optional(),
    /** Serve Prometheus metrics at `/metrics` on this port; unset: no metrics listener. */
    metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
    waitSeconds: z.coerce.number().int().min(1).max(60).default(30),
    /** auto: the push stream, long-polls when a proxy refuses its upgrade; long-poll: never the stream. */
    transport: z.enum(['auto', 'long-poll'], { error: 'must be auto or long-poll' }).default('auto'),
    /** After a hub restart, reconnect the stream at a random moment within this many seconds. */
    reconnectWindowSeconds: z.coerce.number().int().min(0).max(3600).default(30),
    observeSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    /** Rotate the agent key once it is this many days old; 0 rotates only on demand. */
    keyRotationDays: z.coerce.number().int().min(0).max(3650).default(90),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Unset: readable lines on a terminal, JSON lines otherwise. */
    logFormat: z.enum(['json', 'pretty'], { error: 'must be json or pretty' }).optional(),
    /** Test-only crash points, from FLOTILLA_FAULT only, never a flag (docs/operations.md). */
    faults: FaultSpec.default([]),
    ...OFFLINE_SETTINGS,
    ...OUTBOX_SETTINGS,
  })
  .refine((c) => c.driver !== 'manifests-dir' || c.root !== undefined, {
    message: 'the manifests-dir driver needs --root DIR',
    path: ['root'],
  })
  .refine((c) => c.driver === 'kubernetes' || (c.kubeconfig === undefined && c.context === undefined), {
    message: '--kubeconfig and --context are for the kubernetes driver only',
    path: ['kubeconfig'],
  })
  .refine((c) => c.context === undefined || c.kubeconfig !== undefined, {
    message: '--context needs --kubeconfig FILE',
    path: ['context'],
  });
export type RunConfig = z.infer<typeof RunConfig>;

/**
 * The environment variables `flotilla-agent run` reads, by setting. A flag of the same name
 * (`--state-dir` for `stateDir`) wins over the variable. An empty variable counts as unset, so
 * a manifest may list an optional one with `value: ""`.
 */
export const RUN_ENVIRONMENT = {
  hub: 'FLOTILLA_HUB',
  enrollToken: 'FLOTILLA_ENROLL_TOKEN',
  stateDir: 'FLOTILLA_AGENT_STATE_DIR',
  name: 'FLOTILLA_AGENT_NAME',
  driver: 'FLOTILLA_AGENT_DRIVER',
  root: 'FLOTILLA_AGENT_ROOT',
  kubeconfig: 'FLOTILLA_AGENT_KUBECONFIG',
  context: 'FLOTILLA_AGENT_KUBE_CONTEXT',
  namespace: 'FLOTILLA_AGENT_NAMESPACE',
  podName: 'FLOTILLA_AGENT_POD_NAME',
  nodeName: 'FLOTILLA_AGENT_NODE_NAME',
  leaderElection: 'FLOTILLA_AGENT_LEADER_ELECTION',
  leaseName: 'FLOTILLA_AGENT_LEASE_NAME',
  leaseSeconds: 'FLOTILLA_AGENT_LEASE_SECONDS',
  identitySecret: 'FLOTILLA_AGENT_IDENTITY_SECRET',
  trustRootPin: 'FLOTILLA_TRUST_ROOT_PIN',
  healthPort: 'FLOTILLA_AGENT_HEALTH_PORT',
  metricsPort: 'FLOTILLA_AGENT_METRICS_PORT',
  waitSeconds: 'FLOTILLA_AGENT_WAIT_SECONDS',
  transport: 'FLOTILLA_AGENT_TRANSPORT',
  reconnectWindowSeconds: 'FLOTILLA_AGENT_RECONNECT_WINDOW_SECONDS',
  observeSeconds: 'FLOTILLA_AGENT_OBSERVE_SECONDS',
  keyRotationDays: 'FLOTILLA_AGENT_KEY_ROTATION_DAYS',
  logLevel: 'FLOTILLA_LOG_LEVEL',
  logFormat: 'FLOTILLA_LOG_FORMAT',
  inbox: 'FLOTILLA_AGENT_INBOX',
  registry: 'FLOTILLA_AGENT_REGISTRY',
  registryCredentials: 'FLOTILLA_AGENT_REGISTRY_CREDENTIALS',
  outbox: 'FLOTILLA_AGENT_OUTBOX',
  outboxSeconds: 'FLOTILLA_AGENT_OUTBOX_SECONDS',
} as const satisfies Partial<Record<keyof RunConfig, string>>;

type Env = Readonly<Record<string, string | undefined>>;

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== ''));
}

/** `flotilla-agent run`: flags win over FLOTILLA_* variables. */
export function runConfig(flags: Record<string, unknown>, env: Env): RunConfig {
  const fromEnv = Object.fromEntries(
    Object.entries(RUN_ENVIRONMENT).map(([setting, variable]) => [setting, env[variable]]),
  );
  const result = RunConfig.safeParse({
    ...defined(fromEnv),
    ...defined({ faults: env['FLOTILLA_FAULT'] }),
    ...defined(flags),
  });
  if (!result.success) throw new FlotillaError('CONFIG_INVALID', z.prettifyError(result.error).replace(/\n/g, '; '));
  return result.data;
}

const OfflineConfig = z
  .object({
    stateDir: z.string().min(1),
    driver: z.enum(['manifests-dir', 'kubernetes']).default('manifests-dir'),
    root: z.string().min(1).optional(),
    registry: OFFLINE_SETTINGS.registry,
    registryCredentials: OFFLINE_SETTINGS.registryCredentials,
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  })
  .refine((c) => c.driver === 'manifests-dir', {
    message:
      'flotilla-agent offline works on a state directory (the manifests-dir driver); a kubernetes agent writes its reports files into its outbox (run --outbox DIR) and takes transfer files and receipts in its inbox (run --inbox DIR)',
    path: ['driver'],
  });
export type OfflineConfig = z.infer<typeof OfflineConfig>;

/** `flotilla-agent offline …`: the same variables and flags as `run`, for the settings it uses. */
export function offlineConfig(flags: Record<string, unknown>, env: Env): OfflineConfig {
  const fromEnv = Object.fromEntries(
    Object.entries(RUN_ENVIRONMENT).map(([setting, variable]) => [setting, env[variable]]),
  );
  const result = OfflineConfig.safeParse({ ...defined(fromEnv), ...defined(flags) });
  if (!result.success) throw new FlotillaError('CONFIG_INVALID', z.prettifyError(result.error).replace(/\n/g, '; '));
  return result.data;
}
