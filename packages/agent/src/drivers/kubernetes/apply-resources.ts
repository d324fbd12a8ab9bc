import {
  FlotillaError,
  groupOf,
  isFlotillaError,
  resourceKey,
  type FaultPoints,
  type Resource,
} from '@flotilla/protocol';
import { jsonPointerAt, valueAtPath } from '@flotilla/protocol/drift';
import type { AppliedResource } from '../driver.ts';
import { objectPath, type ApiResource } from './api-discovery.ts';
import { inApplyOrder } from './apply-order.ts';
import { asRecord } from './as-record.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { inventoryEntry, type Inventory, type InventoryEntry } from './inventory.ts';
import { describeError, isPassFatal } from './kube-api-error.ts';
import { markedForApply } from './ownership.ts';
import { removalOrder } from './string-order.ts';

/** How the driver writes: as which field manager, and how long it waits for a CRD of the same batch. */
export interface ApplyAccess extends ClusterAccess {
  /** The server-side apply field manager. */
  readonly fieldManager: string;
  /** How long to wait for a CRD applied in the same pass to be served. */
  readonly crdWaitMs: number;
  /** How often to look at discovery while waiting. */
  readonly crdPollMs: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Resolves after `ms` milliseconds. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Test-only crash points: `apply:after` once each object is applied. */
  readonly faults: FaultPoints;
}

interface CrdInBatch {
  readonly key: string;
  readonly name: string;
}

/** What one batch has applied so far: custom resources wait on their CRD in it. */
interface Batch {
  /** CRDs of the batch by the `group/Kind` they define. */
  readonly crds: ReadonlyMap<string, CrdInBatch>;
  readonly results: Map<string, AppliedResource>;
}

/**
 * Applies each resource with server-side apply, Namespaces first, then CRDs, then the rest;
 * custom resources once their CRD is served. Each object written is added to `inventory`. A
 * resource that fails (a conflict, an invalid object, a missing kind) is `failed` and the others
 * are still applied. Returns one result per resource, in the order given; throws only when the
 * API server cannot be reached or refuses the credentials.
 */
export async function applyResources(
  access: ApplyAccess,
  desired: readonly Resource[],
  force: (key: string, resource: Resource) => boolean,
  inventory: Inventory,
): Promise<AppliedResource[]> {
  const batch: Batch = { crds: crdsIn(desired), results: new Map() };
  for (const resource of inApplyOrder(desired)) {
    const key = resourceKey(resource);
    const outcome = await applyOne(access, resource, key, batch, force(key, resource));
    batch.results.set(key, outcome.result);
    if (outcome.entry !== undefined) inventory.set(key, outcome.entry);
  }
  return desired.map(
    (resource) =>
      batch.results.get(resourceKey(resource)) ?? {
        key: resourceKey(resource),
        status: 'failed',
        message: 'not applied',
      },
  );
}

/**
 * Writes these resources again with force, so server-side apply takes back the fields other
 * managers changed, then removes the fields someone added (`remove`, by key) with a JSON patch
 * that first tests they still hold what was read, so a concurrent change is never lost blind.
 * Returns one result per resource, in apply order.
 */
export async function reapplyResources(
  access: ApplyAccess,
  resources: readonly Resource[],
  remove: ReadonlyMap<string, readonly string[]> | undefined,
  inventory: Inventory,
): Promise<AppliedResource[]> {
  const results: AppliedResource[] = [];
  for (const resource of inApplyOrder(resources)) {
    const key = resourceKey(resource);
    const outcome = await applyOne(access, resource, key, { crds: new Map(), results: new Map() }, true);
    if (outcome.entry !== undefined) inventory.set(key, outcome.entry);
    const removals = remove?.get(key) ?? [];
    results.push(
      outcome.result.status === 'applied' && removals.length > 0
        ? await removeFields(access, resource, key, removals)
        : outcome.result,
    );
  }
  return results;
}

function crdsIn(desired: readonly Resource[]): Map<string, CrdInBatch> {
  const crds = new Map<string, CrdInBatch>();
  for (const resource of desired) {
    if (resource.kind !== 'CustomResourceDefinition' || groupOf(resource.apiVersion) !== 'apiextensions.k8s.io')
      continue;
    const spec = asRecord(resource['spec']);
    const group = spec['group'];
    const kind = asRecord(spec['names'])['kind'];
    if (typeof group === 'string' && typeof kind === 'string')
      crds.set(`${group}/${kind}`, { key: resourceKey(resource), name: resource.metadata.name });
  }
  return crds;
}

async function applyOne(
  access: ApplyAccess,
  resource: Resource,
  key: string,
  batch: Batch,
  force: boolean,
): Promise<{ result: AppliedResource; entry?: InventoryEntry }> {
  try {
    const api = await resolveForApply(access, resource, batch);
    const namespace = resource.metadata.namespace;
    if (api.namespaced && namespace === undefined) {
      return { result: { key, status: 'failed', message: `${resource.kind} is namespaced: set metadata.namespace` } };
    }
    if (!api.namespaced && namespace !== undefined) {
      return {
        result: {
          key,
          status: 'failed',
          message: `${resource.kind} is cluster-scoped: remove metadata.namespace (${namespace})`,
        },
      };
    }
    await access.client.apply(
      objectPath(api, resource.metadata.name, namespace),
      markedForApply(resource, key, access.owner),
      { fieldManager: access.fieldManager, force },
    );
    access.log?.info({ key, force }, 'applied');
    access.faults.reach('apply:after');
    return { result: { key, status: 'applied' }, entry: inventoryEntry(resource, key) };
  } catch (error) {
    if (isPassFatal(error)) throw error;
    const message = describeError(error);
    access.log?.warn({ key, code: isFlotillaError(error) ? error.code : undefined, message }, 'apply failed');
    return { result: { key, status: 'failed', message } };
  }
}

/**
 * The URL of a resource's kind. A kind the cluster does not serve yet is looked up again; if a
 * CRD in this batch defines it, the driver waits until the API server serves it.
 */
async function resolveForApply(access: ApplyAccess, resource: Resource, batch: Batch): Promise<ApiResource> {
  const found = await access.discovery.resolveFresh(resource.apiVersion, resource.kind);
  if (found !== undefined) return found;
  const crd = batch.crds.get(`${groupOf(resource.apiVersion)}/${resource.kind}`);
  if (crd === undefined) {
    throw new FlotillaError(
      'KUBE_KIND_UNKNOWN',
      `kind ${resource.kind} in ${resource.apiVersion} is not served by this cluster; install its CustomResourceDefinition (or add it to the bundle) first`,
    );
  }
  const crdResult = batch.results.get(crd.key);
  if (crdResult?.status !== 'applied') {
    throw new FlotillaError(
      'KUBE_KIND_UNKNOWN',
      `kind ${resource.kind} is defined by CustomResourceDefinition ${crd.name}, which failed to apply: ${crdResult?.message ?? 'not applied'}`,
    );
  }
  const deadline = access.now() + access.crdWaitMs;
  while (access.now() < deadline) {
    await access.sleep(access.crdPollMs);
    const api = await access.discovery.resolve(resource.apiVersion, resource.kind, { refresh: true });
    if (api !== undefined) return api;
  }
  throw new FlotillaError(
    'KUBE_KIND_UNKNOWN',
    `CustomResourceDefinition ${crd.name} was applied but ${resource.kind} in ${resource.apiVersion} was not served within ${access.crdWaitMs} ms; check that the CRD is established and serves that version`,
  );
}

async function removeFields(
  access: ApplyAccess,
  resource: Resource,
  key: string,
  paths: readonly string[],
): Promise<AppliedResource> {
  try {
    const api = await access.discovery.resolveFresh(resource.apiVersion, resource.kind);
    if (api === undefined)
      return {
        key,
        status: 'failed',
        message: `kind ${resource.kind} in ${resource.apiVersion} is not served by this cluster`,
      };
    const path = objectPath(api, resource.metadata.name, api.namespaced ? resource.metadata.namespace : undefined);
    const live = await access.client.getIfExists(path);
    if (live === undefined) return { key, status: 'failed', message: 'not found on the cluster after apply' };
    const pointers = paths
      .map((field) => ({ field, pointer: jsonPointerAt(live, field) }))
      .filter((p): p is { field: string; pointer: string } => p.pointer !== undefined);
    // Deepest first and list items from the end, so that each pointer stays valid as the ones before it apply.
    pointers.sort((a, b) => removalOrder(a.pointer, b.pointer));
    if (pointers.length === 0) return { key, status: 'applied' };
    const patch = pointers.flatMap(({ field, pointer }) => [
      { op: 'test', path: pointer, value: valueAtPath(live, field) },
      { op: 'remove', path: pointer },
    ]);
    await access.client.call('PATCH', path, {
      query: { fieldManager: access.fieldManager },
      body: patch,
      contentType: 'application/json-patch+json',
    });
    access.log?.info({ key, removed: pointers.map((p) => p.field) }, 'removed fields added by others');
    return { key, status: 'applied' };
  } catch (error) {
    if (isPassFatal(error)) throw error;
    return { key, status: 'failed', message: `could not remove fields added by others: ${describeError(error)}` };
  }
}
