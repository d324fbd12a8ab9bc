import { cpus, arch, hostname, platform, totalmem } from 'node:os';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { stringify as stringifyYaml } from 'yaml';
import {
  canonicalize,
  messageOf,
  NO_FAULTS,
  parseYaml,
  resourceKey,
  type FaultPoints,
  type Facts,
  type Resource,
} from '@flotilla/protocol';
import { readJsonFile, syncDirectory, writeFileAtomic, writeJsonAtomic } from '../state-files.ts';
import type { AppliedResource, Driver, ObservedResource } from './driver.ts';
import type { LiveObject } from '@flotilla/protocol/drift';

const Inventory = z.object({ files: z.record(z.string(), z.string()) });

/** The file a resource lives in: one flat folder, as static pods and k3s auto-deploy expect. */
export function manifestFileName(resource: Resource): string {
  const scope = resource.metadata.namespace ?? 'cluster';
  const kind = resource.kind.toLowerCase();
  const group = resource.apiVersion.includes('/') ? `.${resource.apiVersion.split('/')[0]}` : '';
  return `${scope}_${kind}${group}_${resource.metadata.name}.yaml`;
}

interface ManifestsDirOptions {
  /**
   * A test hook, consulted on each apply: when it returns a message, the apply writes nothing
   * and reports every resource failed with it, as a full disk would. Tests use it to make some
   * agents fail and later fix them; never set in production.
   */
  readonly failWith?: () => string | undefined;
  /** Test-only crash points: `apply:after` once each resource is in place. */
  readonly faults?: FaultPoints;
}

/**
 * Applies resources as YAML files in a directory, for edge hosts, static pods and k3s's
 * auto-deploy folder. It keeps an inventory of the files it wrote, so pruning removes
 * exactly those and never a file someone else put there.
 */
export class ManifestsDirDriver implements Driver {
  readonly name = 'manifests-dir';
  private readonly inventoryPath: string;
  private readonly root: string;

  private readonly agentVersion: string;
  private readonly failWith: (() => string | undefined) | undefined;
  private readonly faults: FaultPoints;

  constructor(root: string, agentVersion = '0.1.0', options: ManifestsDirOptions = {}) {
    this.agentVersion = agentVersion;
    this.failWith = options.failWith;
    this.faults = options.faults ?? NO_FAULTS;
    this.root = root;
    this.inventoryPath = join(root, '.flotilla', 'inventory.json');
  }

  async facts(): Promise<Facts> {
    return {
      substrate: 'host',
      driver: this.name,
      agentVersion: this.agentVersion,
      hostname: hostname(),
      os: platform(),
      arch: arch(),
      cpus: cpus().length,
      memoryBytes: totalmem(),
    };
  }

  async apply(desired: readonly Resource[]): Promise<AppliedResource[]> {
    const injected = this.failWith?.();
    if (injected !== undefined)
      return desired.map((resource) => ({ key: resourceKey(resource), status: 'failed', message: injected }));
    const inventory = readJsonFile(this.inventoryPath, Inventory) ?? { files: {} };
    // Every file this apply may write is in the inventory before the first is written, so that
    // after a crash part-way the next apply knows them all and prunes what is not desired then.
    const planned = Object.fromEntries(desired.map((resource) => [resourceKey(resource), manifestFileName(resource)]));
    writeJsonAtomic(this.inventoryPath, { files: { ...inventory.files, ...planned } });
    const results: AppliedResource[] = [];
    const files: Record<string, string> = {};
    for (const resource of desired) {
      const key = resourceKey(resource);
      const file = manifestFileName(resource);
      try {
        const content = stringifyYaml(resource, { sortMapEntries: true });
        if ((await readText(join(this.root, file))) !== content)
          writeFileAtomic(join(this.root, file), content, { mode: 0o644, syncDirectory: false });
        files[key] = file;
        results.push({ key, status: 'applied' });
        this.faults.reach('apply:after');
      } catch (error) {
        results.push({ key, status: 'failed', message: `cannot write ${file}: ${messageOf(error)}` });
        if (inventory.files[key] !== undefined) files[key] = inventory.files[key];
      }
    }
    const kept = new Set(Object.values(files));
    for (const [key, file] of Object.entries(inventory.files)) {
      if (files[key] !== undefined) continue;
      if (!kept.has(file)) await rm(join(this.root, file), { force: true });
      results.push({ key, status: 'pruned' });
    }
    syncDirectory(this.root);
    writeJsonAtomic(this.inventoryPath, { files });
    return results;
  }

  async observe(desired: readonly Resource[]): Promise<ObservedResource[]> {
    return Promise.all(
      desired.map(async (resource): Promise<ObservedResource> => {
        const key = resourceKey(resource);
        const file = manifestFileName(resource);
        const text = await readText(join(this.root, file));
        if (text === undefined) return { key, live: null, health: 'missing', message: `${file} is missing` };
        let live: unknown;
        try {
          live = parseYaml(text, file);
        } catch (error) {
          return { key, live: null, health: 'degraded', message: messageOf(error).split('\n')[0] ?? file };
        }
        if (typeof live !== 'object' || live === null || Array.isArray(live))
          return { key, live: null, health: 'degraded', message: `${file} does not hold a resource` };
        const matches = canonicalize(live) === canonicalize(resource);
        return {
          key,
          live: live as Record<string, unknown>,
          health: matches ? 'healthy' : 'degraded',
          ...(matches ? {} : { message: `${file} differs from the desired state` }),
        };
      }),
    );
  }

  /**
   * Writes these resources' files again (a hand edit undone, a deleted file restored), leaving
   * every other file alone: how the agent reverts drift here.
   */
  async repair(resources: readonly Resource[]): Promise<AppliedResource[]> {
    const inventory = readJsonFile(this.inventoryPath, Inventory) ?? { files: {} };
    const results: AppliedResource[] = [];
    for (const resource of resources) {
      const key = resourceKey(resource);
      const file = manifestFileName(resource);
      try {
        writeFileAtomic(join(this.root, file), stringifyYaml(resource, { sortMapEntries: true }), { mode: 0o644 });
        inventory.files[key] = file;
        results.push({ key, status: 'applied' });
      } catch (error) {
        results.push({ key, status: 'failed', message: `cannot write ${file}: ${messageOf(error)}` });
      }
    }
    writeJsonAtomic(this.inventoryPath, inventory);
    return results;
  }

  /** Files Flotilla wrote whose resources left the desired state and that are still there. */
  async extras(desired: readonly Resource[]): Promise<LiveObject[]> {
    const inventory = readJsonFile(this.inventoryPath, Inventory) ?? { files: {} };
    const wanted = new Set(desired.map(resourceKey));
    const found: LiveObject[] = [];
    for (const [key, file] of Object.entries(inventory.files)) {
      if (wanted.has(key)) continue;
      const text = await readText(join(this.root, file));
      if (text === undefined) continue;
      try {
        const live: unknown = parseYaml(text, file);
        if (typeof live === 'object' && live !== null && !Array.isArray(live)) found.push(live as LiveObject);
      } catch {
        // Not YAML any more: nothing to compare, and nothing Flotilla would adopt.
      }
    }
    return found;
  }

  async close(): Promise<void> {}
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
