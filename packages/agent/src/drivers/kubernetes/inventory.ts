import { z } from 'zod';
import { resourceKey, type Resource } from '@flotilla/protocol';
import { readJsonFile, writeJsonAtomic } from '../../state-files.ts';
import { collectionPath } from './api-discovery.ts';
import { asRecord } from './as-record.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { isPassFatal, kubeHttpStatus } from './kube-api-error.ts';
import { KEY_ANNOTATION, managedSelector } from './ownership.ts';
import { ordinal } from './string-order.ts';

/** One object Flotilla applied and therefore may prune. */
export const InventoryEntry = z.object({
  key: z.string().min(1),
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
});
export type InventoryEntry = z.infer<typeof InventoryEntry>;

/** The inventory entry of a resource Flotilla applies (or may have applied). */
export function inventoryEntry(resource: Resource, key = resourceKey(resource)): InventoryEntry {
  const namespace = resource.metadata.namespace;
  return {
    key,
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    name: resource.metadata.name,
    ...(namespace === undefined ? {} : { namespace }),
  };
}

/** The objects Flotilla applied on a cluster, by key, as a pass reads and changes them. */
export type Inventory = Map<string, InventoryEntry>;

/**
 * Where the driver keeps the list of objects it applied. `load` answers undefined when nothing
 * was ever saved; the driver then rebuilds the list from the cluster by label.
 */
export interface InventoryStore {
  load(): Promise<readonly InventoryEntry[] | undefined>;
  save(entries: readonly InventoryEntry[]): Promise<void>;
}

/** An inventory that lives as long as the process. */
export function memoryInventory(initial?: readonly InventoryEntry[]): InventoryStore {
  let entries = initial === undefined ? undefined : [...initial];
  return {
    load: async () => entries,
    save: async (next) => {
      entries = [...next];
    },
  };
}

const InventoryFile = z.object({ version: z.literal(1), entries: z.array(InventoryEntry) });

/** An inventory in a JSON file, written atomically, for an agent's state directory. */
export function fileInventory(path: string): InventoryStore {
  return {
    load: async () => readJsonFile(path, InventoryFile)?.entries,
    save: async (entries) => {
      writeJsonAtomic(path, { version: 1, entries: [...entries].sort((a, b) => ordinal(a.key, b.key)) });
    },
  };
}

/** Events are written by components on their own and never applied: not worth listing. */
export const EVENT_KINDS: ReadonlySet<string> = new Set(['/Event', 'events.k8s.io/Event']);

/** The inventory as saved, or, when the store was never written, as rebuilt from the cluster. */
export async function loadInventory(access: ClusterAccess, store: InventoryStore): Promise<Inventory> {
  const entries = (await store.load()) ?? (await recoverInventory(access));
  return new Map(entries.map((entry) => [entry.key, entry]));
}

/** Saves the inventory as a pass left it. */
export async function saveInventory(store: InventoryStore, inventory: Inventory): Promise<void> {
  await store.save([...inventory.values()]);
}

/**
 * Rebuilds the inventory from the cluster: every listable kind, listed by Flotilla's label,
 * keeping objects whose key annotation matches their identity.
 */
async function recoverInventory(access: ClusterAccess): Promise<InventoryEntry[]> {
  const entries: InventoryEntry[] = [];
  for (const api of await access.discovery.all()) {
    if (!api.verbs.includes('list') || !api.verbs.includes('delete') || EVENT_KINDS.has(`${api.group}/${api.kind}`))
      continue;
    let list: { items?: unknown[] };
    try {
      list = await access.client.call<{ items?: unknown[] }>('GET', collectionPath(api), {
        query: { labelSelector: managedSelector(access.owner) },
      });
    } catch (error) {
      if (isPassFatal(error)) throw error;
      // A kind the agent may not list (RBAC) is left out: what it holds is then never pruned,
      // which is the safe way to be wrong.
      access.log?.warn(
        { kind: api.kind, group: api.group, status: kubeHttpStatus(error) },
        'inventory recovery skipped a kind',
      );
      continue;
    }
    const apiVersion = api.group === '' ? api.version : `${api.group}/${api.version}`;
    for (const item of list.items ?? []) {
      const metadata = asRecord(asRecord(item)['metadata']);
      const name = metadata['name'];
      const namespace = typeof metadata['namespace'] === 'string' ? metadata['namespace'] : undefined;
      if (typeof name !== 'string') continue;
      const key = resourceKey({
        apiVersion,
        kind: api.kind,
        metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
      });
      if (asRecord(metadata['annotations'])[KEY_ANNOTATION] !== key) continue;
      entries.push({ key, apiVersion, kind: api.kind, name, ...(namespace === undefined ? {} : { namespace }) });
    }
  }
  access.log?.info({ count: entries.length }, 'inventory recovered from cluster labels');
  return entries;
}
