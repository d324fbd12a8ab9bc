import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FlotillaError, messageOf } from '@flotilla/protocol';
import type { ClusterConnection } from './cluster-connection.ts';
import { FileTokenSource, staticToken } from './token-source.ts';

const NamedCluster = z.object({
  name: z.string().min(1),
  cluster: z.object({
    server: z.url({ protocol: /^https?$/ }),
    'certificate-authority': z.string().optional(),
    'certificate-authority-data': z.string().optional(),
    'insecure-skip-tls-verify': z.boolean().optional(),
    'tls-server-name': z.string().optional(),
  }),
});

const NamedUser = z.object({
  name: z.string().min(1),
  user: z
    .object({
      token: z.string().optional(),
      tokenFile: z.string().optional(),
      'client-certificate': z.string().optional(),
      'client-certificate-data': z.string().optional(),
      'client-key': z.string().optional(),
      'client-key-data': z.string().optional(),
      username: z.string().optional(),
      exec: z.unknown().optional(),
      'auth-provider': z.unknown().optional(),
    })
    .nullish(),
});

const NamedContext = z.object({
  name: z.string().min(1),
  context: z.object({ cluster: z.string().min(1), user: z.string().optional(), namespace: z.string().optional() }),
});

/** The parts of a kubeconfig file (`kind: Config`) the agent uses; other keys are ignored. */
const Kubeconfig = z.object({
  'current-context': z.string().optional(),
  clusters: z.array(NamedCluster).nullish(),
  users: z.array(NamedUser).nullish(),
  contexts: z.array(NamedContext).nullish(),
});
type Kubeconfig = z.infer<typeof Kubeconfig>;

export interface KubeconfigOptions {
  /** The kubeconfig file. Relative paths inside it are resolved against its folder, as kubectl does. */
  readonly path: string;
  /** A context other than `current-context`. */
  readonly context?: string;
}

function invalid(path: string, message: string): FlotillaError {
  return new FlotillaError('CONFIG_INVALID', `kubeconfig ${path}: ${message}`);
}

function readText(file: string, base: string, what: string, kubeconfigPath: string): string {
  const absolute = isAbsolute(file) ? file : resolve(base, file);
  try {
    return readFileSync(absolute, 'utf8');
  } catch (error) {
    throw invalid(
      kubeconfigPath,
      `cannot read the ${what} ${absolute} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    );
  }
}

function decodeData(data: string, what: string, kubeconfigPath: string): string {
  const text = Buffer.from(data, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) throw invalid(kubeconfigPath, `${what} is not base64-encoded PEM`);
  return text;
}

/**
 * The connection a kubeconfig file describes for its current context (or `context`): the
 * cluster's server and CA (`certificate-authority-data`, `certificate-authority`, or
 * `insecure-skip-tls-verify`), and the user's bearer token (`token`, `tokenFile`) or client
 * certificate and key (inline `-data` or files). Exec plugins and auth providers are refused
 * with a message, since the agent cannot run them unattended.
 */
export function kubeconfigConnection(options: KubeconfigOptions): ClusterConnection {
  const path = options.path;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw invalid(path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw invalid(path, `not valid YAML: ${messageOf(error)}`);
  }
  const parsed = Kubeconfig.safeParse(raw ?? {});
  if (!parsed.success) throw invalid(path, `not a valid kubeconfig:\n${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  const base = dirname(resolve(path));

  const contextName = options.context ?? config['current-context'];
  if (contextName === undefined || contextName === '')
    throw invalid(path, 'no current-context is set and no context was given');
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (context === undefined)
    throw invalid(
      path,
      `context ${JSON.stringify(contextName)} is not defined; defined contexts: ${(config.contexts ?? []).map((c) => c.name).join(', ') || 'none'}`,
    );
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (cluster === undefined)
    throw invalid(
      path,
      `cluster ${JSON.stringify(context.cluster)} of context ${JSON.stringify(contextName)} is not defined`,
    );
  const user = context.user === undefined ? undefined : config.users?.find((u) => u.name === context.user);
  if (context.user !== undefined && user === undefined)
    throw invalid(
      path,
      `user ${JSON.stringify(context.user)} of context ${JSON.stringify(contextName)} is not defined`,
    );
  const credentials = user?.user ?? {};

  if (credentials.exec !== undefined)
    throw invalid(
      path,
      `user ${JSON.stringify(context.user)} uses an exec credential plugin, which the agent does not run; give it a service-account token or a client certificate`,
    );
  if (credentials['auth-provider'] !== undefined)
    throw invalid(
      path,
      `user ${JSON.stringify(context.user)} uses an auth provider, which the agent does not support; give it a service-account token or a client certificate`,
    );
  if (credentials.username !== undefined)
    throw invalid(
      path,
      `user ${JSON.stringify(context.user)} uses basic authentication, which Kubernetes removed in 1.19; give it a token or a client certificate`,
    );

  let ca: string | undefined;
  if (cluster['certificate-authority-data'] !== undefined)
    ca = decodeData(cluster['certificate-authority-data'], 'certificate-authority-data', path);
  else if (cluster['certificate-authority'] !== undefined)
    ca = readText(cluster['certificate-authority'], base, 'certificate authority', path);

  const certData = credentials['client-certificate-data'];
  const certFile = credentials['client-certificate'];
  const keyData = credentials['client-key-data'];
  const keyFile = credentials['client-key'];
  let clientCertificate: { cert: string; key: string } | undefined;
  if (certData !== undefined || certFile !== undefined || keyData !== undefined || keyFile !== undefined) {
    const cert =
      certData !== undefined
        ? decodeData(certData, 'client-certificate-data', path)
        : certFile !== undefined
          ? readText(certFile, base, 'client certificate', path)
          : undefined;
    const key =
      keyData !== undefined
        ? decodeData(keyData, 'client-key-data', path)
        : keyFile !== undefined
          ? readText(keyFile, base, 'client key', path)
          : undefined;
    if (cert === undefined || key === undefined)
      throw invalid(
        path,
        `user ${JSON.stringify(context.user)} has a client certificate without its key, or a key without its certificate`,
      );
    clientCertificate = { cert, key };
  }

  const token =
    credentials.token !== undefined && credentials.token !== ''
      ? staticToken(credentials.token)
      : credentials.tokenFile !== undefined
        ? new FileTokenSource(
            isAbsolute(credentials.tokenFile) ? credentials.tokenFile : resolve(base, credentials.tokenFile),
          )
        : undefined;

  return {
    server: cluster.server.replace(/\/+$/, ''),
    ...(ca === undefined ? {} : { ca }),
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecureSkipTlsVerify: true } : {}),
    ...(cluster['tls-server-name'] === undefined ? {} : { tlsServerName: cluster['tls-server-name'] }),
    ...(clientCertificate === undefined ? {} : { clientCertificate }),
    ...(token === undefined ? {} : { token }),
    ...(context.namespace === undefined ? {} : { namespace: context.namespace }),
  };
}
