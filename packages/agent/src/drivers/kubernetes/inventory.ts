import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from '../../state-files.ts';

/** One object Flotilla applied and therefore may prune. */
export const InventoryEntry = z.object({
  key: z.string().min(1),
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
});
export type InventoryEntry = z.infer<typeof InventoryEntry>;

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
      writeJsonAtomic(path, { version: 1, entries: [...entries].sort((a, b) => a.key.localeCompare(b.key)) });
    },
  };
}
