import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FlotillaError, parseJson } from '@flotilla/protocol';

/** How the agent signs in to a site registry: a user and password, or a bearer token. */
export type RegistryCredentials =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string };

const AuthEntry = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
  registrytoken: z.string().optional(),
});
type AuthEntry = z.infer<typeof AuthEntry>;

/** A Docker `config.json` (what `docker login` writes and a `dockerconfigjson` Secret holds). */
export const DockerConfig = z.looseObject({ auths: z.record(z.string(), AuthEntry) });
export type DockerConfig = z.infer<typeof DockerConfig>;

const Secret = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Secret'),
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

function invalid(source: string, message: string): FlotillaError {
  return new FlotillaError('CONFIG_INVALID', `registry credentials in ${source}: ${message}`, { source });
}

/** `https://host:port/v1/` and `host:port` both name `host:port`. */
function hostOf(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

function fromEntry(entry: AuthEntry, source: string, registry: string): RegistryCredentials {
  if (entry.registrytoken !== undefined && entry.registrytoken !== '')
    return { kind: 'bearer', token: entry.registrytoken };
  if (entry.username !== undefined && entry.password !== undefined)
    return { kind: 'basic', username: entry.username, password: entry.password };
  if (entry.auth !== undefined) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw invalid(source, `the auth of ${registry} is not base64 of user:password`);
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.identitytoken !== undefined)
    throw invalid(
      source,
      `${registry} has only an identitytoken (an OAuth refresh token), which the agent does not use; give a username and password or a registrytoken`,
    );
  throw invalid(source, `the entry for ${registry} has no username and password, auth or registrytoken`);
}

/** The credentials a Docker config holds for `registry` (`host` or `host:port`), if any. */
export function credentialsFromDockerConfig(
  config: DockerConfig,
  registry: string,
  source = 'docker config',
): RegistryCredentials | undefined {
  const wanted = hostOf(registry);
  for (const [key, entry] of Object.entries(config.auths))
    if (hostOf(key) === wanted) return fromEntry(entry, source, wanted);
  return undefined;
}

function decode(secret: z.infer<typeof Secret>, key: string): string | undefined {
  const text = secret.stringData?.[key];
  if (text !== undefined) return text;
  const data = secret.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

/**
 * The credentials a Kubernetes Secret holds for `registry`: a `kubernetes.io/dockerconfigjson`
 * Secret (`.dockerconfigjson`), a legacy `kubernetes.io/dockercfg` one (`.dockercfg`), or a
 * `kubernetes.io/basic-auth` one (`username`, `password`), from `data` or `stringData`.
 */
export function credentialsFromSecret(
  value: unknown,
  registry: string,
  source = 'Secret',
): RegistryCredentials | undefined {
  const parsed = Secret.safeParse(value);
  if (!parsed.success) throw invalid(source, 'not a Kubernetes Secret (apiVersion v1, kind Secret)');
  const secret = parsed.data;
  if (secret.type === 'kubernetes.io/basic-auth') {
    const username = decode(secret, 'username');
    const password = decode(secret, 'password');
    if (username === undefined || password === undefined)
      throw invalid(source, 'a basic-auth Secret needs username and password');
    return { kind: 'basic', username, password };
  }
  const modern = decode(secret, '.dockerconfigjson');
  const legacy = modern === undefined ? decode(secret, '.dockercfg') : undefined;
  if (modern === undefined && legacy === undefined)
    throw invalid(source, 'the Secret holds neither .dockerconfigjson, .dockercfg nor username and password');
  let json: unknown;
  try {
    json = parseJson((modern ?? legacy)!, 'the docker config');
  } catch {
    throw invalid(source, `its ${modern === undefined ? '.dockercfg' : '.dockerconfigjson'} is not JSON`);
  }
  const config = DockerConfig.safeParse(modern === undefined ? { auths: json } : json);
  if (!config.success) throw invalid(source, 'its docker config has no auths map');
  return credentialsFromDockerConfig(config.data, registry, source);
}

/**
 * Loads the credentials for `registry` from a file: a Docker `config.json`, or a Kubernetes
 * Secret manifest (JSON or YAML) as `kubectl get secret -o yaml` prints it. Undefined when
 * the file names no credentials for that registry.
 */
export async function loadRegistryCredentials(
  path: string,
  registry: string,
): Promise<RegistryCredentials | undefined> {
  let value: unknown;
  try {
    value = parseYaml(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw invalid(path, 'the file does not exist');
    throw invalid(path, 'the file is neither JSON nor YAML');
  }
  if (typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Secret')
    return credentialsFromSecret(value, registry, path);
  const config = DockerConfig.safeParse(value);
  if (!config.success) throw invalid(path, 'expected a Docker config.json ({"auths": {...}}) or a Kubernetes Secret');
  return credentialsFromDockerConfig(config.data, registry, path);
}
