import type { Logger } from 'pino';
import type { ApiDiscovery } from './api-discovery.ts';
import type { KubeClient } from './kube-client.ts';

/** What the driver's apply, inventory and prune steps share. */
export interface ClusterAccess {
  readonly client: KubeClient;
  readonly discovery: ApiDiscovery;
  /** The target id Flotilla labels its objects with; undefined when one agent has the cluster to itself. */
  readonly owner: string | undefined;
  readonly log: Logger | undefined;
}
