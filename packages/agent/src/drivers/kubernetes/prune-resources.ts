import { groupOf, resourceKey, type Resource } from '@flotilla/protocol';
import { type LiveObject } from '@flotilla/protocol/drift';
import type { AppliedResource } from '../driver.ts';
import { collectionPath, objectPath } from './api-discovery.ts';
import { inPruneOrder } from './apply-order.ts';
import { asRecord } from './as-record.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { EVENT_KINDS, type Inventory, type InventoryEntry } from './inventory.ts';
import { describeError, isPassFatal, kubeApiError, kubeHttpStatus } from './kube-api-error.ts';
import { isMarkedAs, MANAGED_BY_LABEL, MANAGED_BY_VALUE, TARGET_LABEL } from './ownership.ts';

// Objects Kubernetes puts in every namespace, and kinds that controllers and components write on
// their own (events, endpoints, leader-election leases): none makes a namespace someone else's.
const SYSTEM_OBJECTS = new Set(['ConfigMap/kube-root-ca.crt', 'ServiceAccount/default']);
const IGNORED_IN_NAMESPACE_CHECK = new Set([
  ...EVENT_KINDS,
  '/Endpoints',
  'discovery.k8s.io/EndpointSlice',
  'coordination.k8s.io/Lease',
]);

/**
 * Deletes what Flotilla applied earlier and `desired` no longer holds, dependents first and
 * Namespaces and CRDs last, removing each pruned object from `inventory`. An object is deleted
 * only while it still carries Flotilla's label and key annotation, and only the object that was
 * read (a uid precondition); a Namespace only once nothing else lives in it. Throws only when
 * the API server cannot be reached or refuses the credentials.
 */
export async function pruneResources(
  access: ClusterAccess,
  desired: readonly Resource[],
  inventory: Inventory,
): Promise<AppliedResource[]> {
  const wanted = new Set(desired.map(resourceKey));
  const leaving = [...inventory.values()].filter((entry) => !wanted.has(entry.key));
  const pruned: AppliedResource[] = [];
  for (const entry of inPruneOrder(leaving)) {
    const result = await pruneOne(access, entry, desired);
    if (result.status === 'pruned') inventory.delete(entry.key);
    pruned.push(result);
  }
  return pruned;
}

/**
 * Objects in the inventory that are no longer desired but still carry Flotilla's marks: what a
 * prune left behind (a namespace that still held foreign objects, a failed delete).
 */
export async function leftovers(
  access: ClusterAccess,
  desired: readonly Resource[],
  inventory: Inventory,
): Promise<LiveObject[]> {
  const wanted = new Set(desired.map(resourceKey));
  const found: LiveObject[] = [];
  for (const entry of inventory.values()) {
    if (wanted.has(entry.key)) continue;
    try {
      const api = await access.discovery.resolveFresh(entry.apiVersion, entry.kind);
      if (api === undefined) continue;
      const live = await access.client.getIfExists(
        objectPath(api, entry.name, api.namespaced ? entry.namespace : undefined),
      );
      if (live === undefined || !isMarkedAs(live, entry.key, access.owner)) continue;
      // Lists and GETs of built-in kinds may omit them; the drift key needs both.
      found.push({ ...live, apiVersion: entry.apiVersion, kind: entry.kind });
    } catch (error) {
      if (isPassFatal(error)) throw error;
    }
  }
  return found;
}

async function pruneOne(
  access: ClusterAccess,
  entry: InventoryEntry,
  desired: readonly Resource[],
): Promise<AppliedResource> {
  const key = entry.key;
  try {
    let api = await access.discovery.resolveFresh(entry.apiVersion, entry.kind);
    if (api === undefined) {
      // The version applied may no longer be served; the group's preferred version still names the object.
      const group = groupOf(entry.apiVersion);
      const preferred = await access.discovery.preferredVersion(group);
      if (preferred !== undefined)
        api = await access.discovery.resolveFresh(group === '' ? preferred : `${group}/${preferred}`, entry.kind);
    }
    if (api === undefined)
      return { key, status: 'pruned', message: `already gone: kind ${entry.kind} is no longer served` };
    const path = objectPath(api, entry.name, entry.namespace);
    const live = await access.client.getIfExists(path);
    if (live === undefined) return { key, status: 'pruned', message: 'already absent' };
    if (!isMarkedAs(live, key, access.owner)) {
      return {
        key,
        status: 'pruned',
        message:
          "released without deleting: the object no longer carries Flotilla's label and key annotation, so it belongs to someone else now",
      };
    }
    if (api.group === '' && api.kind === 'Namespace') {
      const blocker = await namespaceBlocker(access, entry.name, desired);
      if (blocker !== undefined) return { key, status: 'failed', message: `namespace not deleted: ${blocker}` };
    }
    const uid = asRecord(live['metadata'])['uid'];
    const response = await access.client.send('DELETE', path, {
      query: { propagationPolicy: 'Background' },
      // The uid precondition keeps a prune from deleting an object recreated under the same name.
      body: { kind: 'DeleteOptions', apiVersion: 'v1', ...(typeof uid === 'string' ? { preconditions: { uid } } : {}) },
    });
    if (response.status === 404) return { key, status: 'pruned', message: 'already absent' };
    if (response.status >= 300) throw kubeApiError('DELETE', path, response.status, response.body);
    access.log?.info({ key }, 'pruned');
    return { key, status: 'pruned' };
  } catch (error) {
    if (isPassFatal(error)) throw error;
    const status = kubeHttpStatus(error);
    return {
      key,
      status: 'failed',
      message: `prune failed${status === undefined ? '' : ` (${status})`}: ${describeError(error)}`,
    };
  }
}

/**
 * Why a namespace Flotilla created must not be deleted yet: deleting it would delete whatever
 * else lives there. Objects that a controller owns (ownerReferences), Flotilla's own objects
 * and the ones Kubernetes puts in every namespace do not count.
 */
async function namespaceBlocker(
  access: ClusterAccess,
  namespace: string,
  desired: readonly Resource[],
): Promise<string | undefined> {
  const stillWanted = desired.filter((resource) => resource.metadata.namespace === namespace);
  if (stillWanted.length > 0)
    return `it still holds desired resources such as ${resourceKey(stillWanted[0] as Resource)}`;
  const foreign: string[] = [];
  for (const api of await access.discovery.all()) {
    if (!api.namespaced || !api.verbs.includes('list') || IGNORED_IN_NAMESPACE_CHECK.has(`${api.group}/${api.kind}`))
      continue;
    const list = await access.client.call<{ items?: unknown[] }>('GET', collectionPath(api, namespace));
    for (const item of list.items ?? []) {
      const metadata = asRecord(asRecord(item)['metadata']);
      const name = String(metadata['name']);
      if (SYSTEM_OBJECTS.has(`${api.kind}/${name}`)) continue;
      if (Array.isArray(metadata['ownerReferences']) && metadata['ownerReferences'].length > 0) continue;
      const labels = asRecord(metadata['labels']);
      if (
        labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE &&
        (access.owner === undefined || labels[TARGET_LABEL] === access.owner)
      )
        continue;
      foreign.push(`${api.kind} ${name}`);
    }
  }
  if (foreign.length === 0) return undefined;
  return `it holds objects Flotilla does not manage (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? `, and ${foreign.length - 3} more` : ''}); move or delete them, then the namespace is pruned on the next pass`;
}
