import { cpus, arch, hostname, platform, totalmem } from 'node:os';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { canonicalize, resourceKey, type Facts, type Resource } from '@flotilla/protocol';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../state-files.ts';
import type { AppliedResource, Driver, ObservedResource } from './driver.ts';

const Inventory = z.object({ files: z.record(z.string(), z.string()) });

/** The file a resource lives in: one flat folder, as static pods and k3s auto-deploy expect. */
export function manifestFileName(resource: Resource): string {
  const scope = resource.metadata.namespace ?? 'cluster';
  const kind = resource.kind.toLowerCase();
  const group = resource.apiVersion.includes('/') ? `.${resource.apiVersion.split('/')[0]}` : '';
  return `${scope}_${kind}${group}_${resource.metadata.name}.yaml`;
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

  constructor(root: string, agentVersion = '0.1.0') {
    this.agentVersion = agentVersion;
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
    const inventory = readJsonFile(this.inventoryPath, Inventory) ?? { files: {} };
    const results: AppliedResource[] = [];
    const files: Record<string, string> = {};
    for (const resource of desired) {
      const key = resourceKey(resource);
      const file = manifestFileName(resource);
      try {
        const content = stringifyYaml(resource, { sortMapEntries: true });
        if ((await readText(join(this.root, file))) !== content) writeFileAtomic(join(this.root, file), content, 0o644);
        files[key] = file;
        results.push({ key, status: 'applied' });
      } catch (error) {
        results.push({ key, status: 'failed', message: `cannot write ${file}: ${(error as Error).message}` });
        if (inventory.files[key] !== undefined) files[key] = inventory.files[key];
      }
    }
    for (const [key, file] of Object.entries(inventory.files)) {
      if (files[key] !== undefined) continue;
      await rm(join(this.root, file), { force: true });
      results.push({ key, status: 'pruned' });
    }
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
          live = parseYaml(text);
        } catch {
          return { key, live: null, health: 'degraded', message: `${file} is not valid YAML` };
        }
        if (typeof live !== 'object' || live === null || Array.isArray(live)) return { key, live: null, health: 'degraded', message: `${file} does not hold a resource` };
        const matches = canonicalize(live) === canonicalize(resource);
        return { key, live: live as Record<string, unknown>, health: matches ? 'healthy' : 'degraded', ...(matches ? {} : { message: `${file} differs from the desired state` }) };
      }),
    );
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
