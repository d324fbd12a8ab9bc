import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { assertUniqueResources, FLOTILLA_FIELD_MANAGER, FlotillaError, groupOf, isFlotillaError, jsonPointerAt, resourceKey, valueAtPath, type Facts, type LiveObject, type Resource } from '@flotilla/protocol';
import type { AppliedResource, Driver, DriverRepairOptions, ObservedResource } from '../driver.ts';
import { ApiDiscovery, collectionPath, objectPath, type ApiResource } from './api-discovery.ts';
import { inApplyOrder, inPruneOrder } from './apply-order.ts';
import type { ClusterConnection } from './cluster-connection.ts';
import { collectClusterFacts } from './cluster-facts.ts';
import { memoryInventory, type InventoryEntry, type InventoryStore } from './inventory.ts';
import { fieldConflicts, kubeApiError, kubeHttpStatus } from './kube-api-error.ts';
import { KubeClient } from './kube-client.ts';
import { mapLimited } from './map-limited.ts';
import { isMarkedAs, KEY_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, managedSelector, markedForApply, TARGET_LABEL } from './ownership.ts';
import { resourceHealth } from './resource-health.ts';

/** Whether to take fields over from other field managers: for all resources, none, or by key. */
export type ForcePolicy = boolean | ((key: string, resource: Resource) => boolean);

export interface KubernetesDriverOptions {
  /** From `inClusterConnection` or `kubeconfigConnection`. */
  readonly connection: ClusterConnection;
  /** The server-side apply field manager. Default `flotilla`. */
  readonly fieldManager?: string;
  /**
   * The target id of this agent. Objects get it as label `flotilla.io/target`, and prune and
   * recovery only consider objects that carry it, so several agents can share a cluster.
   */
  readonly owner?: string;
  /**
   * Force conflicts (take fields that another manager, such as `kubectl-edit` or an autoscaler,
   * changed). Default false: a conflict fails that resource with a message naming the field and
   * the manager, and nothing that someone else changed is overwritten.
   */
  readonly forceConflicts?: ForcePolicy;
  /** Where the keys of applied objects are kept. Default: in memory, rebuilt by label on start. */
  readonly inventory?: InventoryStore;
  /** How long to wait for a CRD applied in the same pass to be served. Default 60 s. */
  readonly crdWaitMs?: number;
  /** How often to look at discovery while waiting. Default 500 ms. */
  readonly crdPollMs?: number;
  readonly agentVersion?: string;
  readonly requestTimeoutMs?: number;
  readonly log?: Logger;
}

export interface ApplyOptions {
  /** Overrides the driver's force policy for this pass: everything, nothing, or these keys. */
  readonly force?: boolean | ReadonlySet<string>;
}

// Reads in flight at once while observing: quick on a large bundle, gentle on the API server.
const OBSERVE_CONCURRENCY = 8;

interface CrdInBatch {
  readonly key: string;
  readonly name: string;
}

// Objects Kubernetes puts in every namespace, and kinds that controllers and components write on
// their own (events, endpoints, leader-election leases): none makes a namespace someone else's.
const SYSTEM_OBJECTS = new Set(['ConfigMap/kube-root-ca.crt', 'ServiceAccount/default']);
const EVENT_KINDS = new Set(['/Event', 'events.k8s.io/Event']);
const IGNORED_IN_NAMESPACE_CHECK = new Set([...EVENT_KINDS, '/Endpoints', 'discovery.k8s.io/EndpointSlice', 'coordination.k8s.io/Lease']);

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Errors after which no further call can succeed in this pass: the agent retries the pass. */
function isPassFatal(error: unknown): boolean {
  return isFlotillaError(error, 'KUBE_UNREACHABLE') || isFlotillaError(error, 'UNAUTHENTICATED');
}

function describeConflict(error: unknown): string {
  const conflicts = fieldConflicts(error);
  const fields = conflicts.map((c) => `${c.field} (managed by "${c.manager}"${c.subresource === undefined ? '' : ` through ${c.subresource}`})`);
  return `apply conflict: ${fields.join(', ')} changed by another field manager; Flotilla did not force it. Adopt the change into a release, revert it by hand, or apply with force`;
}

function describeError(error: unknown): string {
  if (isFlotillaError(error, 'KUBE_APPLY_CONFLICT')) return describeConflict(error);
  return error instanceof Error ? error.message : String(error);
}

/**
 * The `kubernetes` driver: applies resources with server-side apply (field manager `flotilla`),
 * finds their URLs through API discovery, marks them as Flotilla's, prunes what it applied
 * before and no longer should, observes them with their managedFields, judges their health,
 * and reports facts about the cluster. It talks REST over undici; no kubectl.
 *
 * The inventory of applied objects is kept in an `InventoryStore` (the caller persists it, for
 * example with `fileInventory` in the agent's state directory). When the store has never been
 * written, the driver rebuilds it from the cluster by the `app.kubernetes.io/managed-by=flotilla`
 * label. Prune deletes an object only if it still carries Flotilla's label and key annotation.
 *
 * @example
 * const driver = new KubernetesDriver({
 *   connection: inClusterConnection({ env: process.env }),
 *   owner: targetId,
 *   inventory: fileInventory(join(stateDir, 'kubernetes-inventory.json')),
 * });
 * const results = await driver.apply(resources);
 */
export class KubernetesDriver implements Driver {
  readonly name = 'kubernetes';
  /** The API client, shared with helpers such as the lease elector. */
  readonly client: KubeClient;
  private readonly discovery: ApiDiscovery;
  /** The server-side apply field manager this driver writes as. */
  readonly fieldManager: string;
  private readonly owner: string | undefined;
  private readonly forcePolicy: ForcePolicy;
  private readonly store: InventoryStore;
  private readonly crdWaitMs: number;
  private readonly crdPollMs: number;
  private readonly agentVersion: string | undefined;
  private readonly log: Logger | undefined;

  constructor(options: KubernetesDriverOptions) {
    if (typeof options !== 'object' || options === null || typeof options.connection !== 'object' || options.connection === null) {
      throw new TypeError('KubernetesDriver: options.connection is required; build it with inClusterConnection() or kubeconfigConnection()');
    }
    const fieldManager = options.fieldManager ?? FLOTILLA_FIELD_MANAGER;
    if (fieldManager === '' || fieldManager.length > 128) throw new TypeError(`KubernetesDriver: fieldManager must be 1 to 128 characters, received ${JSON.stringify(fieldManager)}`);
    const validLabelValue = (value: string): boolean => value.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value);
    if (options.owner !== undefined && !validLabelValue(options.owner)) {
      throw new TypeError(`KubernetesDriver: owner becomes a label value, so it must be up to 63 letters, digits, '-', '_' or '.', received ${JSON.stringify(options.owner)}`);
    }
    for (const [name, value] of [['crdWaitMs', options.crdWaitMs], ['crdPollMs', options.crdPollMs]] as const) {
      if (value !== undefined && (!Number.isFinite(value) || value < 0)) throw new TypeError(`KubernetesDriver: ${name} must be a number of milliseconds >= 0, received ${String(value)}`);
    }
    this.client = new KubeClient(options.connection, {
      userAgent: `flotilla-agent/${options.agentVersion ?? '0.1.0'}`,
      ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
    });
    this.discovery = new ApiDiscovery(this.client);
    this.fieldManager = fieldManager;
    this.owner = options.owner === '' ? undefined : options.owner;
    this.forcePolicy = options.forceConflicts ?? false;
    this.store = options.inventory ?? memoryInventory();
    this.crdWaitMs = options.crdWaitMs ?? 60_000;
    this.crdPollMs = options.crdPollMs ?? 500;
    this.agentVersion = options.agentVersion;
    this.log = options.log?.child({ component: 'kubernetes-driver' });
  }

  async facts(): Promise<Facts> {
    const facts = await collectClusterFacts(this.client);
    return this.agentVersion === undefined ? facts : { ...facts, agentVersion: this.agentVersion };
  }

  /** The objects Flotilla manages on this cluster now, as the inventory holds them. */
  async inventory(): Promise<readonly InventoryEntry[]> {
    return [...(await this.loadInventory()).values()];
  }

  /**
   * Applies every desired resource (Namespaces first, then CRDs, then the rest; custom
   * resources once their CRD is served), then prunes what Flotilla applied earlier that left
   * the desired set. A resource that fails (a conflict, an invalid object, a missing kind) is
   * reported `failed` and the others are still applied. Throws only when the API server cannot
   * be reached or refuses the credentials, after saving what was applied so far.
   */
  async apply(desired: readonly Resource[], options: ApplyOptions = {}): Promise<AppliedResource[]> {
    assertUniqueResources(desired);
    const inventory = await this.loadInventory();
    const results = new Map<string, AppliedResource>();
    const crds = this.crdsIn(desired);
    try {
      for (const resource of inApplyOrder(desired)) {
        const key = resourceKey(resource);
        const outcome = await this.applyOne(resource, key, crds, results, this.shouldForce(key, resource, options.force));
        results.set(key, outcome.result);
        if (outcome.entry !== undefined) inventory.set(key, outcome.entry);
      }
      const wanted = new Set(desired.map(resourceKey));
      const pruned: AppliedResource[] = [];
      const leaving = [...inventory.values()].filter((entry) => !wanted.has(entry.key));
      for (const entry of inPruneOrder(leaving)) {
        const result = await this.pruneOne(entry, desired);
        if (result.status === 'pruned') inventory.delete(entry.key);
        pruned.push(result);
      }
      return [...desired.map((resource) => results.get(resourceKey(resource)) ?? { key: resourceKey(resource), status: 'failed' as const, message: 'not applied' }), ...pruned];
    } finally {
      await this.store.save([...inventory.values()]);
    }
  }

  /** Reads back each desired resource, managedFields included, with its health. */
  async observe(desired: readonly Resource[]): Promise<ObservedResource[]> {
    return mapLimited(desired, OBSERVE_CONCURRENCY, (resource) => this.observeOne(resource));
  }

  private async observeOne(resource: Resource): Promise<ObservedResource> {
    const key = resourceKey(resource);
    const api = await this.discovery.resolveFresh(resource.apiVersion, resource.kind);
    if (api === undefined) return { key, live: null, health: 'missing', message: `kind ${resource.kind} in ${resource.apiVersion} is not served by this cluster` };
    let live: Record<string, unknown> | undefined;
    try {
      live = await this.client.getIfExists(objectPath(api, resource.metadata.name, api.namespaced ? resource.metadata.namespace : undefined));
    } catch (error) {
      if (isPassFatal(error)) throw error;
      return { key, live: null, health: 'unknown', message: describeError(error) };
    }
    if (live === undefined) return { key, live: null, health: 'missing', message: 'not found on the cluster' };
    const verdict = resourceHealth(api.group, api.kind, live);
    return { key, live, health: verdict.health, ...(verdict.message === undefined ? {} : { message: verdict.message }) };
  }

  /** Its own field manager: fields it owns, alone or shared, are never drift. */
  get selfManagers(): readonly string[] {
    return [this.fieldManager];
  }

  /**
   * Reverts drift on these resources: each is applied again with force, so server-side apply
   * takes back the fields other managers changed, and nothing is pruned. Fields someone added
   * that Flotilla never applied (`options.remove`, by key) are then removed with a JSON patch
   * that first tests they still hold what was read, so a concurrent change is never lost blind.
   */
  async repair(resources: readonly Resource[], options: DriverRepairOptions = {}): Promise<AppliedResource[]> {
    const inventory = await this.loadInventory();
    const results: AppliedResource[] = [];
    try {
      for (const resource of inApplyOrder(resources)) {
        const key = resourceKey(resource);
        const outcome = await this.applyOne(resource, key, new Map(), new Map(), true);
        if (outcome.entry !== undefined) inventory.set(key, outcome.entry);
        const removals = options.remove?.get(key) ?? [];
        results.push(outcome.result.status === 'applied' && removals.length > 0 ? await this.removeFields(resource, key, removals) : outcome.result);
      }
    } finally {
      await this.store.save([...inventory.values()]);
    }
    return results;
  }

  private async removeFields(resource: Resource, key: string, paths: readonly string[]): Promise<AppliedResource> {
    try {
      const api = await this.discovery.resolveFresh(resource.apiVersion, resource.kind);
      if (api === undefined) return { key, status: 'failed', message: `kind ${resource.kind} in ${resource.apiVersion} is not served by this cluster` };
      const path = objectPath(api, resource.metadata.name, api.namespaced ? resource.metadata.namespace : undefined);
      const live = await this.client.getIfExists(path);
      if (live === undefined) return { key, status: 'failed', message: 'not found on the cluster after apply' };
      const pointers = paths.map((field) => ({ field, pointer: jsonPointerAt(live, field) })).filter((p): p is { field: string; pointer: string } => p.pointer !== undefined);
      // Deepest first and list items from the end, so that each pointer stays valid as the ones before it apply.
      pointers.sort((a, b) => b.pointer.localeCompare(a.pointer, 'en', { numeric: true }));
      if (pointers.length === 0) return { key, status: 'applied' };
      const patch = pointers.flatMap(({ field, pointer }) => [{ op: 'test', path: pointer, value: valueAtPath(live, field) }, { op: 'remove', path: pointer }]);
      await this.client.call('PATCH', path, { query: { fieldManager: this.fieldManager }, body: patch, contentType: 'application/json-patch+json' });
      this.log?.info({ key, removed: pointers.map((p) => p.field) }, 'removed fields added by others');
      return { key, status: 'applied' };
    } catch (error) {
      if (isPassFatal(error)) throw error;
      return { key, status: 'failed', message: `could not remove fields added by others: ${describeError(error)}` };
    }
  }

  /**
   * Objects in the inventory that are no longer desired but still carry Flotilla's marks: what a
   * prune left behind (a namespace that still held foreign objects, a failed delete).
   */
  async extras(desired: readonly Resource[]): Promise<LiveObject[]> {
    const wanted = new Set(desired.map(resourceKey));
    const found: LiveObject[] = [];
    for (const entry of (await this.loadInventory()).values()) {
      if (wanted.has(entry.key)) continue;
      try {
        const api = await this.discovery.resolveFresh(entry.apiVersion, entry.kind);
        if (api === undefined) continue;
        const live = await this.client.getIfExists(objectPath(api, entry.name, api.namespaced ? entry.namespace : undefined));
        if (live === undefined || !isMarkedAs(live, entry.key, this.owner)) continue;
        // Lists and GETs of built-in kinds may omit them; the drift key needs both.
        found.push({ ...live, apiVersion: entry.apiVersion, kind: entry.kind });
      } catch (error) {
        if (isPassFatal(error)) throw error;
      }
    }
    return found;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // ----- apply -----

  private shouldForce(key: string, resource: Resource, override: boolean | ReadonlySet<string> | undefined): boolean {
    if (typeof override === 'boolean') return override;
    if (override !== undefined) return override.has(key);
    return typeof this.forcePolicy === 'function' ? this.forcePolicy(key, resource) : this.forcePolicy;
  }

  /** CRDs of this batch by the `group/Kind` they define. */
  private crdsIn(desired: readonly Resource[]): Map<string, CrdInBatch> {
    const crds = new Map<string, CrdInBatch>();
    for (const resource of desired) {
      if (resource.kind !== 'CustomResourceDefinition' || groupOf(resource.apiVersion) !== 'apiextensions.k8s.io') continue;
      const spec = record(resource['spec']);
      const group = spec['group'];
      const kind = record(spec['names'])['kind'];
      if (typeof group === 'string' && typeof kind === 'string') crds.set(`${group}/${kind}`, { key: resourceKey(resource), name: resource.metadata.name });
    }
    return crds;
  }

  private async applyOne(resource: Resource, key: string, crds: Map<string, CrdInBatch>, results: Map<string, AppliedResource>, force: boolean): Promise<{ result: AppliedResource; entry?: InventoryEntry }> {
    try {
      const api = await this.resolveForApply(resource, crds, results);
      const namespace = resource.metadata.namespace;
      if (api.namespaced && namespace === undefined) {
        return { result: { key, status: 'failed', message: `${resource.kind} is namespaced: set metadata.namespace` } };
      }
      if (!api.namespaced && namespace !== undefined) {
        return { result: { key, status: 'failed', message: `${resource.kind} is cluster-scoped: remove metadata.namespace (${namespace})` } };
      }
      await this.client.apply(objectPath(api, resource.metadata.name, namespace), markedForApply(resource, key, this.owner), { fieldManager: this.fieldManager, force });
      this.log?.info({ key, force }, 'applied');
      const entry: InventoryEntry = { key, apiVersion: resource.apiVersion, kind: resource.kind, name: resource.metadata.name, ...(namespace === undefined ? {} : { namespace }) };
      return { result: { key, status: 'applied' }, entry };
    } catch (error) {
      if (isPassFatal(error)) throw error;
      const message = describeError(error);
      this.log?.warn({ key, code: isFlotillaError(error) ? error.code : undefined, message }, 'apply failed');
      return { result: { key, status: 'failed', message } };
    }
  }

  /**
   * The URL of a resource's kind. A kind the cluster does not serve yet is looked up again; if a
   * CRD in this batch defines it, the driver waits until the API server serves it.
   */
  private async resolveForApply(resource: Resource, crds: Map<string, CrdInBatch>, results: Map<string, AppliedResource>): Promise<ApiResource> {
    const found = await this.discovery.resolveFresh(resource.apiVersion, resource.kind);
    if (found !== undefined) return found;
    const crd = crds.get(`${groupOf(resource.apiVersion)}/${resource.kind}`);
    if (crd === undefined) {
      throw new FlotillaError('KUBE_KIND_UNKNOWN', `kind ${resource.kind} in ${resource.apiVersion} is not served by this cluster; install its CustomResourceDefinition (or add it to the bundle) first`);
    }
    const crdResult = results.get(crd.key);
    if (crdResult?.status !== 'applied') {
      throw new FlotillaError('KUBE_KIND_UNKNOWN', `kind ${resource.kind} is defined by CustomResourceDefinition ${crd.name}, which failed to apply: ${crdResult?.message ?? 'not applied'}`);
    }
    const deadline = Date.now() + this.crdWaitMs;
    while (Date.now() < deadline) {
      await sleep(this.crdPollMs);
      const api = await this.discovery.resolve(resource.apiVersion, resource.kind, { refresh: true });
      if (api !== undefined) return api;
    }
    throw new FlotillaError('KUBE_KIND_UNKNOWN', `CustomResourceDefinition ${crd.name} was applied but ${resource.kind} in ${resource.apiVersion} was not served within ${this.crdWaitMs} ms; check that the CRD is established and serves that version`);
  }

  // ----- inventory -----

  private async loadInventory(): Promise<Map<string, InventoryEntry>> {
    const saved = await this.store.load();
    const entries = saved ?? (await this.recoverInventory());
    return new Map(entries.map((entry) => [entry.key, entry]));
  }

  /**
   * Rebuilds the inventory from the cluster: every listable kind, listed by Flotilla's label,
   * keeping objects whose key annotation matches their identity.
   */
  private async recoverInventory(): Promise<InventoryEntry[]> {
    const entries: InventoryEntry[] = [];
    for (const api of await this.discovery.all()) {
      if (!api.verbs.includes('list') || !api.verbs.includes('delete') || EVENT_KINDS.has(`${api.group}/${api.kind}`)) continue;
      let list: { items?: unknown[] };
      try {
        list = await this.client.call<{ items?: unknown[] }>('GET', collectionPath(api), { query: { labelSelector: managedSelector(this.owner) } });
      } catch (error) {
        if (isPassFatal(error)) throw error;
        // A kind the agent may not list (RBAC) is left out: what it holds is then never pruned,
        // which is the safe way to be wrong.
        this.log?.warn({ kind: api.kind, group: api.group, status: kubeHttpStatus(error) }, 'inventory recovery skipped a kind');
        continue;
      }
      const apiVersion = api.group === '' ? api.version : `${api.group}/${api.version}`;
      for (const item of list.items ?? []) {
        const metadata = record(record(item)['metadata']);
        const name = metadata['name'];
        const namespace = typeof metadata['namespace'] === 'string' ? metadata['namespace'] : undefined;
        if (typeof name !== 'string') continue;
        const key = resourceKey({ apiVersion, kind: api.kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }) } });
        if (record(metadata['annotations'])[KEY_ANNOTATION] !== key) continue;
        entries.push({ key, apiVersion, kind: api.kind, name, ...(namespace === undefined ? {} : { namespace }) });
      }
    }
    this.log?.info({ count: entries.length }, 'inventory recovered from cluster labels');
    return entries;
  }

  // ----- prune -----

  private async pruneOne(entry: InventoryEntry, desired: readonly Resource[]): Promise<AppliedResource> {
    const key = entry.key;
    try {
      let api = await this.discovery.resolveFresh(entry.apiVersion, entry.kind);
      if (api === undefined) {
        // The version applied may no longer be served; the group's preferred version still names the object.
        const group = groupOf(entry.apiVersion);
        const preferred = await this.discovery.preferredVersion(group);
        if (preferred !== undefined) api = await this.discovery.resolveFresh(group === '' ? preferred : `${group}/${preferred}`, entry.kind);
      }
      if (api === undefined) return { key, status: 'pruned', message: `already gone: kind ${entry.kind} is no longer served` };
      const path = objectPath(api, entry.name, entry.namespace);
      const live = await this.client.getIfExists(path);
      if (live === undefined) return { key, status: 'pruned', message: 'already absent' };
      if (!isMarkedAs(live, key, this.owner)) {
        return { key, status: 'pruned', message: 'released without deleting: the object no longer carries Flotilla\'s label and key annotation, so it belongs to someone else now' };
      }
      if (api.group === '' && api.kind === 'Namespace') {
        const blocker = await this.namespaceBlocker(entry.name, desired);
        if (blocker !== undefined) return { key, status: 'failed', message: `namespace not deleted: ${blocker}` };
      }
      const uid = record(live['metadata'])['uid'];
      const response = await this.client.send('DELETE', path, {
        query: { propagationPolicy: 'Background' },
        // The uid precondition keeps a prune from deleting an object recreated under the same name.
        body: { kind: 'DeleteOptions', apiVersion: 'v1', ...(typeof uid === 'string' ? { preconditions: { uid } } : {}) },
      });
      if (response.status === 404) return { key, status: 'pruned', message: 'already absent' };
      if (response.status >= 300) throw kubeApiError('DELETE', path, response.status, response.body);
      this.log?.info({ key }, 'pruned');
      return { key, status: 'pruned' };
    } catch (error) {
      if (isPassFatal(error)) throw error;
      const status = kubeHttpStatus(error);
      return { key, status: 'failed', message: `prune failed${status === undefined ? '' : ` (${status})`}: ${describeError(error)}` };
    }
  }

  /**
   * Why a namespace Flotilla created must not be deleted yet: deleting it would delete whatever
   * else lives there. Objects that a controller owns (ownerReferences), Flotilla's own objects
   * and the ones Kubernetes puts in every namespace do not count.
   */
  private async namespaceBlocker(namespace: string, desired: readonly Resource[]): Promise<string | undefined> {
    const stillWanted = desired.filter((resource) => resource.metadata.namespace === namespace);
    if (stillWanted.length > 0) return `it still holds desired resources such as ${resourceKey(stillWanted[0] as Resource)}`;
    const foreign: string[] = [];
    for (const api of await this.discovery.all()) {
      if (!api.namespaced || !api.verbs.includes('list') || IGNORED_IN_NAMESPACE_CHECK.has(`${api.group}/${api.kind}`)) continue;
      const list = await this.client.call<{ items?: unknown[] }>('GET', collectionPath(api, namespace));
      for (const item of list.items ?? []) {
        const metadata = record(record(item)['metadata']);
        const name = String(metadata['name']);
        if (SYSTEM_OBJECTS.has(`${api.kind}/${name}`)) continue;
        if (Array.isArray(metadata['ownerReferences']) && metadata['ownerReferences'].length > 0) continue;
        const labels = record(metadata['labels']);
        if (labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && (this.owner === undefined || labels[TARGET_LABEL] === this.owner)) continue;
        foreign.push(`${api.kind} ${name}`);
      }
    }
    if (foreign.length === 0) return undefined;
    return `it holds objects Flotilla does not manage (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? `, and ${foreign.length - 3} more` : ''}); move or delete them, then the namespace is pruned on the next pass`;
  }
}
