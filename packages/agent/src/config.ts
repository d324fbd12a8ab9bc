import { z } from 'zod';
import { FlotillaError } from '@flotilla/protocol';

const RunConfig = z
  .object({
    hub: z.url({ protocol: /^https?$/ }),
    enrollToken: z.string().min(1).optional(),
    stateDir: z.string().min(1),
    name: z.string().min(1).optional(),
    driver: z.enum(['manifests-dir']),
    root: z.string().min(1).optional(),
    waitSeconds: z.coerce.number().int().min(1).max(60).default(30),
    observeSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .refine((c) => c.driver !== 'manifests-dir' || c.root !== undefined, { message: 'the manifests-dir driver needs --root DIR', path: ['root'] });
export type RunConfig = z.infer<typeof RunConfig>;

type Env = Readonly<Record<string, string | undefined>>;

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

/** `flotilla-agent run`: flags win over FLOTILLA_AGENT_* variables. */
export function runConfig(flags: Record<string, unknown>, env: Env): RunConfig {
  const result = RunConfig.safeParse({
    ...defined({
      hub: env['FLOTILLA_HUB'],
      enrollToken: env['FLOTILLA_ENROLL_TOKEN'],
      stateDir: env['FLOTILLA_AGENT_STATE_DIR'],
      name: env['FLOTILLA_AGENT_NAME'],
      driver: env['FLOTILLA_AGENT_DRIVER'],
      root: env['FLOTILLA_AGENT_ROOT'],
      logLevel: env['FLOTILLA_LOG_LEVEL'],
    }),
    ...defined(flags),
  });
  if (!result.success) throw new FlotillaError('CONFIG_INVALID', z.prettifyError(result.error).replace(/\n/g, '; '));
  return result.data;
}
