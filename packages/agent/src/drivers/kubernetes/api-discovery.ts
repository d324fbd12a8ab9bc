import { z } from 'zod';
import type { KubeClient } from './kube-client.ts';

/** A resource type as discovery reports it. */
export interface ApiResource {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The URL segment: `deployments`. */
  readonly plural: string;
  readonly namespaced: boolean;
  readonly verbs: readonly string[];
}

const ApiResourceList = z.object({
  groupVersion: z.string(),
  resources: z.array(
    z.object({
      name: z.string(),
      kind: z.string(),
      namespaced: z.boolean(),
      verbs: z.array(z.string()).default([]),
    }),
  ),
});

const ApiGroupList = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      preferredVersion: z.object({ version: z.string() }).nullish(),
      versions: z.array(z.object({ version: z.string() })).default([]),
    }),
  ),
});

const ApiGroup = z.object({
  preferredVersion: z.object({ version: z.string() }).nullish(),
  versions: z.array(z.object({ version: z.string() })).default([]),
});

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash === -1
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function groupVersionPath(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
}

/**
 * API discovery, cached per group version: which URL serves a kind and whether it is
 * namespaced. A kind the cache does not know is looked up again (`refresh`), since a CRD
 * applied a moment ago appears in discovery only once it is established.
 */
export class ApiDiscovery {
  private readonly client: KubeClient;
  // undefined: never fetched; null: the group version is not served.
  private readonly groupVersions = new Map<string, Map<string, ApiResource> | null>();

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** The resource serving `kind` at `apiVersion`, or undefined when the cluster does not serve it. */
  async resolve(
    apiVersion: string,
    kind: string,
    options: { refresh?: boolean } = {},
  ): Promise<ApiResource | undefined> {
    if (options.refresh === true) this.groupVersions.delete(apiVersion);
    let kinds = this.groupVersions.get(apiVersion);
    if (kinds === undefined) kinds = await this.fetchGroupVersion(apiVersion);
    return kinds?.get(kind);
  }

  /** Like `resolve`, but looks again once when the kind is not known. */
  async resolveFresh(apiVersion: string, kind: string): Promise<ApiResource | undefined> {
    return (await this.resolve(apiVersion, kind)) ?? this.resolve(apiVersion, kind, { refresh: true });
  }

  /** The preferred version of a named group, or undefined when the group is not served. */
  async preferredVersion(group: string): Promise<string | undefined> {
    if (group === '') return 'v1';
    const body = await this.client.getIfExists(`/apis/${group}`);
    if (body === undefined) return undefined;
    const parsed = ApiGroup.parse(body);
    return parsed.preferredVersion?.version ?? parsed.versions[0]?.version;
  }

  /** Every resource type at the preferred version of every group, subresources left out. */
  async all(): Promise<ApiResource[]> {
    const groups = ApiGroupList.parse(await this.client.call('GET', '/apis'));
    const apiVersions = [
      'v1',
      ...groups.groups.map((g) => `${g.name}/${g.preferredVersion?.version ?? g.versions[0]?.version ?? 'v1'}`),
    ];
    const resources: ApiResource[] = [];
    for (const apiVersion of apiVersions) {
      const kinds = this.groupVersions.get(apiVersion) ?? (await this.fetchGroupVersion(apiVersion));
      if (kinds !== null) resources.push(...kinds.values());
    }
    return resources;
  }

  private async fetchGroupVersion(apiVersion: string): Promise<Map<string, ApiResource> | null> {
    const { group, version } = splitApiVersion(apiVersion);
    const body = await this.client.getIfExists(groupVersionPath(group, version));
    if (body === undefined) {
      this.groupVersions.set(apiVersion, null);
      return null;
    }
    const list = ApiResourceList.parse(body);
    const kinds = new Map<string, ApiResource>();
    for (const resource of list.resources) {
      // `deployments/status` and `deployments/scale` are subresources, not kinds of their own.
      if (resource.name.includes('/')) continue;
      kinds.set(resource.kind, {
        group,
        version,
        kind: resource.kind,
        plural: resource.name,
        namespaced: resource.namespaced,
        verbs: resource.verbs,
      });
    }
    this.groupVersions.set(apiVersion, kinds);
    return kinds;
  }
}

/** The URL path of a collection: `/apis/apps/v1/namespaces/shop/deployments`, or cluster-wide without a namespace. */
export function collectionPath(resource: ApiResource, namespace?: string): string {
  const scope = resource.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${groupVersionPath(resource.group, resource.version)}${scope}/${resource.plural}`;
}

/** The URL path of one object. */
export function objectPath(resource: ApiResource, name: string, namespace?: string): string {
  return `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`;
}
