import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  assertUniqueResources,
  NO_FAULTS,
  resourceKey,
  type FaultPoints,
  type Facts,
  type Resource,
} from '@flotilla/protocol';
import { FLOTILLA_FIELD_MANAGER, type LiveObject } from '@flotilla/protocol/drift';
import type { AppliedResource, Driver, DriverRepairOptions, ObservedResource } from '../driver.ts';
import { ApiDiscovery, objectPath } from './api-discovery.ts';
import { applyResources, reapplyResources, type ApplyAccess } from './apply-resources.ts';
import type { ClusterConnection } from './cluster-connection.ts';
import { collectClusterFacts } from './cluster-facts.ts';
import {
  inventoryEntry,
  loadInventory,
  memoryInventory,
  saveInventory,
  type InventoryEntry,
  type InventoryStore,
} from './inventory.ts';
import { describeError, isPassFatal } from './kube-api-error.ts';
import { KubeClient } from './kube-client.ts';
import { mapLimited } from './map-limited.ts';
import { leftovers, pruneResources } from './prune-resources.ts';
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
  /** Milliseconds since the epoch, for the CRD wait. Default `Date.now`; tests inject their own. */
  readonly now?: () => number;
  /** Resolves after `ms` milliseconds, between looks at discovery. Default a timer; tests inject their own. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Test-only crash points: `apply:after` once each object is applied. */
  readonly faults?: FaultPoints;
}

export interface ApplyOptions {
  /** Overrides the driver's force policy for this pass: everything, nothing, or these keys. */
  readonly force?: boolean | ReadonlySet<string>;
}

// Reads in flight at once while observing: quick on a large bundle, gentle on the API server.
const OBSERVE_CONCURRENCY = 8;

/**
 * The `kubernetes` driver: applies resources with server-side apply (field manager `flotilla`),
 * finds their URLs through API discovery, marks them as Flotilla's, prunes what it applied
 * before and no longer should, observes them with their managedFields, judges their health,
 * and reports facts about the cluster. It talks REST over HTTP/1.1 (node:http); no kubectl.
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
  /** The server-side apply field manager this driver writes as. */
  readonly fieldManager: string;
  private readonly access: ApplyAccess;
  private readonly forcePolicy: ForcePolicy;
  private readonly store: InventoryStore;
  private readonly agentVersion: string | undefined;

  constructor(options: KubernetesDriverOptions) {
    if (
      typeof options !== 'object' ||
      options === null ||
      typeof options.connection !== 'object' ||
      options.connection === null
    ) {
      throw new TypeError(
        'KubernetesDriver: options.connection is required; build it with inClusterConnection() or kubeconfigConnection()',
      );
    }
    const fieldManager = options.fieldManager ?? FLOTILLA_FIELD_MANAGER;
    if (fieldManager === '' || fieldManager.length > 128)
      throw new TypeError(
        `KubernetesDriver: fieldManager must be 1 to 128 characters, received ${JSON.stringify(fieldManager)}`,
      );
    const validLabelValue = (value: string): boolean =>
      value.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value);
    if (options.owner !== undefined && !validLabelValue(options.owner)) {
      throw new TypeError(
        `KubernetesDriver: owner becomes a label value, so it must be up to 63 letters, digits, '-', '_' or '.', received ${JSON.stringify(options.owner)}`,
      );
    }
    for (const [name, value] of [
      ['crdWaitMs', options.crdWaitMs],
      ['crdPollMs', options.crdPollMs],
    ] as const) {
      if (value !== undefined && (!Number.isFinite(value) || value < 0))
        throw new TypeError(
          `KubernetesDriver: ${name} must be a number of milliseconds >= 0, received ${String(value)}`,
        );
    }
    this.client = new KubeClient(options.connection, {
      userAgent: `flotilla-agent/${options.agentVersion ?? '0.1.0'}`,
      ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
    });
    this.fieldManager = fieldManager;
    this.access = {
      client: this.client,
      discovery: new ApiDiscovery(this.client),
      owner: options.owner === '' ? undefined : options.owner,
      log: options.log?.child({ component: 'kubernetes-driver' }),
      fieldManager,
      crdWaitMs: options.crdWaitMs ?? 60_000,
      crdPollMs: options.crdPollMs ?? 500,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? ((ms) => sleep(ms)),
      faults: options.faults ?? NO_FAULTS,
    };
    this.forcePolicy = options.forceConflicts ?? false;
    this.store = options.inventory ?? memoryInventory();
    this.agentVersion = options.agentVersion;
  }

  async facts(): Promise<Facts> {
    const facts = await collectClusterFacts(this.client);
    return this.agentVersion === undefined ? facts : { ...facts, agentVersion: this.agentVersion };
  }

  /** The objects Flotilla manages on this cluster now, as the inventory holds them. */
  async inventory(): Promise<readonly InventoryEntry[]> {
    return [...(await loadInventory(this.access, this.store)).values()];
  }

  /**
   * Applies every desired resource (Namespaces first, then CRDs, then the rest; custom
   * resources once their CRD is served), then prunes what Flotilla applied earlier that left
   * the desired set. A resource that fails (a conflict, an invalid object, a missing kind) is
   * reported `failed` and the others are still applied. Throws only when the API server cannot
   * be reached or refuses the credentials, after saving what was applied so far.
   *
   * Every object the apply may create is in the saved inventory before the first is written, so
   * that after a crash part-way the next apply knows them all and prunes what is not desired
   * then; prune deletes only objects that carry Flotilla's marks, so listing one that was never
   * created costs nothing.
   */
  async apply(desired: readonly Resource[], options: ApplyOptions = {}): Promise<AppliedResource[]> {
    assertUniqueResources(desired);
    const inventory = await loadInventory(this.access, this.store);
    for (const resource of desired) {
      const key = resourceKey(resource);
      if (!inventory.has(key)) inventory.set(key, inventoryEntry(resource, key));
    }
    await saveInventory(this.store, inventory);
    try {
      const applied = await applyResources(
        this.access,
        desired,
        (key, resource) => this.shouldForce(key, resource, options.force),
        inventory,
      );
      return [...applied, ...(await pruneResources(this.access, desired, inventory))];
    } finally {
      await saveInventory(this.store, inventory);
    }
  }

  /** Reads back each desired resource, managedFields included, with its health. */
  async observe(desired: readonly Resource[]): Promise<ObservedResource[]> {
    return mapLimited(desired, OBSERVE_CONCURRENCY, (resource) => this.observeOne(resource));
  }

  private async observeOne(resource: Resource): Promise<ObservedResource> {
    const key = resourceKey(resource);
    const api = await this.access.discovery.resolveFresh(resource.apiVersion, resource.kind);
    if (api === undefined)
      return {
        key,
        live: null,
        health: 'missing',
        message: `kind ${resource.kind} in ${resource.apiVersion} is not served by this cluster`,
      };
    let live: Record<string, unknown> | undefined;
    try {
      live = await this.client.getIfExists(
        objectPath(api, resource.metadata.name, api.namespaced ? resource.metadata.namespace : undefined),
      );
    } catch (error) {
      if (isPassFatal(error)) throw error;
      return { key, live: null, health: 'unknown', message: describeError(error) };
    }
    if (live === undefined) return { key, live: null, health: 'missing', message: 'not found on the cluster' };
    const verdict = resourceHealth(api.group, api.kind, live);
    return {
      key,
      live,
      health: verdict.health,
      ...(verdict.message === undefined ? {} : { message: verdict.message }),
    };
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
    const inventory = await loadInventory(this.access, this.store);
    try {
      return await reapplyResources(this.access, resources, options.remove, inventory);
    } finally {
      await saveInventory(this.store, inventory);
    }
  }

  /**
   * Objects in the inventory that are no longer desired but still carry Flotilla's marks: what a
   * prune left behind (a namespace that still held foreign objects, a failed delete).
   */
  async extras(desired: readonly Resource[]): Promise<LiveObject[]> {
    return leftovers(this.access, desired, await loadInventory(this.access, this.store));
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private shouldForce(key: string, resource: Resource, override: boolean | ReadonlySet<string> | undefined): boolean {
    if (typeof override === 'boolean') return override;
    if (override !== undefined) return override.has(key);
    return typeof this.forcePolicy === 'function' ? this.forcePolicy(key, resource) : this.forcePolicy;
  }
}
