import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { FlotillaError } from '@flotilla/protocol';
import type { ClusterConnection } from './cluster-connection.ts';
import { FileTokenSource } from './token-source.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface InClusterOptions {
  /** The pod's environment; only the two service variables are read. */
  readonly env: {
    readonly KUBERNETES_SERVICE_HOST?: string | undefined;
    readonly KUBERNETES_SERVICE_PORT?: string | undefined;
  };
  /** Default `/var/run/secrets/kubernetes.io/serviceaccount/token`. */
  readonly tokenPath?: string;
  /** Default `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`. */
  readonly caPath?: string;
  /** Default `/var/run/secrets/kubernetes.io/serviceaccount/namespace`. */
  readonly namespacePath?: string;
  /** How often, at most, to check the token file for rotation. Default 60 s. */
  readonly tokenRecheckMs?: number;
}

/**
 * The connection a pod has to its own cluster, as client-go's InClusterConfig builds it: the
 * API server from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the CA bundle and the
 * service-account token mounted into the pod. The token file is read again when it rotates.
 */
export function inClusterConnection(options: InClusterOptions): ClusterConnection {
  const host = options.env.KUBERNETES_SERVICE_HOST?.trim() ?? '';
  const port = options.env.KUBERNETES_SERVICE_PORT?.trim() ?? '';
  if (host === '' || port === '') {
    throw new FlotillaError(
      'CONFIG_INVALID',
      'not running inside a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set; outside a cluster, use a kubeconfig',
    );
  }
  if (!/^\d{1,5}$/.test(port))
    throw new FlotillaError(
      'CONFIG_INVALID',
      `KUBERNETES_SERVICE_PORT must be a port number, received ${JSON.stringify(port)}`,
    );
  const caPath = options.caPath ?? `${SERVICE_ACCOUNT_DIR}/ca.crt`;
  let ca: string;
  try {
    ca = readFileSync(caPath, 'utf8');
  } catch (error) {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `cannot read the cluster CA bundle ${caPath} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}); is the service-account volume mounted?`,
    );
  }
  let namespace: string | undefined;
  try {
    namespace = readFileSync(options.namespacePath ?? `${SERVICE_ACCOUNT_DIR}/namespace`, 'utf8').trim() || undefined;
  } catch {
    namespace = undefined;
  }
  // An IPv6 service address needs brackets in a URL, as net.JoinHostPort adds them in Go.
  const hostPart = isIP(host) === 6 ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    ca,
    token: new FileTokenSource(
      options.tokenPath ?? `${SERVICE_ACCOUNT_DIR}/token`,
      options.tokenRecheckMs === undefined ? {} : { recheckMs: options.tokenRecheckMs },
    ),
    ...(namespace === undefined ? {} : { namespace }),
  };
}
