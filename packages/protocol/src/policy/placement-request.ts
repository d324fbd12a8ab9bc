import { FlotillaError } from '../errors.ts';
import { closest } from '../query/suggest.ts';
import type { ReleaseRequirements } from './check-requirements.ts';
import { WorkloadClass } from './policy-document.ts';
import { kubernetesVersionCore } from './target-traits.ts';

/** Where a rollout created from requirements goes: the requirements, and how to spread. */
export interface PlacementRequest {
  readonly requirements: ReleaseRequirements;
  /** At most this many targets in each region; targets without a region are not chosen. */
  readonly perRegion?: number;
  /** At most this many targets in all, taken round-robin across regions. */
  readonly count?: number;
}

const KEYS = ['class', 'capability', 'region', 'certification', 'min-kubernetes', 'per-region', 'count'] as const;
type Key = (typeof KEYS)[number];
const SINGLE: ReadonlySet<Key> = new Set(['class', 'min-kubernetes', 'per-region', 'count']);
const NAME = /^[A-Za-z0-9*?]([A-Za-z0-9._/*?-]{0,126}[A-Za-z0-9*?])?$/;

function invalid(message: string, entry?: string): FlotillaError {
  return new FlotillaError('PLACEMENT_INVALID', `--place: ${message}`, entry === undefined ? {} : { entry });
}

function count(key: Key, value: string, max: number): number {
  if (!/^[1-9][0-9]{0,6}$/.test(value) || Number(value) > max)
    throw invalid(`${key} is a whole number from 1 to ${max}; got '${value}'`, `${key}=${value}`);
  return Number(value);
}

/**
 * Reads a placement request as written after `--place`: comma-separated `key=value` entries.
 * `class` (the workload class), `capability`, `region` (a name glob such as `eu-*`) and
 * `certification` (each may repeat), `min-kubernetes` (`1.29`), `per-region` and `count`.
 *
 * @example parsePlacementRequest('class=payments, capability=pci-dss, per-region=2')
 * @throws FlotillaError `PLACEMENT_INVALID` naming the entry at fault.
 */
export function parsePlacementRequest(text: string): PlacementRequest {
  if (text.length > 4096) throw invalid('a placement request is at most 4096 characters');
  const values = new Map<Key, string[]>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '')
      throw invalid(
        `an entry is empty; write key=value entries separated by commas, such as class=payments, per-region=2`,
      );
    const eq = entry.indexOf('=');
    if (eq <= 0) throw invalid(`'${entry}' is not key=value`, entry);
    const key = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    if (!(KEYS as readonly string[]).includes(key)) {
      const hint = closest(key, KEYS);
      throw invalid(
        `unknown key '${key}'${hint === undefined ? `; known keys are ${KEYS.join(', ')}` : `; did you mean '${hint}'?`}`,
        entry,
      );
    }
    if (value === '') throw invalid(`${key} has no value`, entry);
    const list = values.get(key as Key) ?? [];
    if (SINGLE.has(key as Key) && list.length > 0) throw invalid(`${key} is given twice`, entry);
    if (list.includes(value)) throw invalid(`${key}=${value} is given twice`, entry);
    list.push(value);
    values.set(key as Key, list);
  }
  const one = (key: Key): string | undefined => values.get(key)?.[0];
  const names = (key: Key): string[] | undefined => {
    const list = values.get(key);
    for (const value of list ?? [])
      if (!NAME.test(value)) throw invalid(`${key} '${value}' is not a name`, `${key}=${value}`);
    return list;
  };
  const workloadClass = one('class');
  if (workloadClass !== undefined && !WorkloadClass.safeParse(workloadClass).success)
    throw invalid(
      `class '${workloadClass}' is not a workload class (lowercase letters, digits and dashes)`,
      `class=${workloadClass}`,
    );
  const minimum = one('min-kubernetes');
  if (minimum !== undefined && kubernetesVersionCore(minimum) === undefined)
    throw invalid(`min-kubernetes '${minimum}' is not a version such as 1.29`, `min-kubernetes=${minimum}`);
  const capabilities = names('capability');
  const regions = names('region');
  const certifications = names('certification');
  const perRegion = one('per-region');
  const total = one('count');
  const requirements: ReleaseRequirements = {
    ...(workloadClass === undefined ? {} : { workloadClass }),
    ...(capabilities === undefined ? {} : { capabilities }),
    ...(regions === undefined ? {} : { regions }),
    ...(minimum === undefined ? {} : { minKubernetesVersion: minimum.replace(/^v/, '') }),
    ...(certifications === undefined ? {} : { certifications }),
  };
  return {
    requirements,
    ...(perRegion === undefined ? {} : { perRegion: count('per-region', perRegion, 10_000) }),
    ...(total === undefined ? {} : { count: count('count', total, 1_000_000) }),
  };
}
