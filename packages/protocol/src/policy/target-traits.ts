import type { Target } from '../documents/target.ts';

/**
 * What placement reads of a target, from its typed properties and the facts its agent
 * reports, never from its substrate:
 *
 * - region: the property `region`, else the label `region`, else the fact `region`;
 * - capabilities: each `facts.capabilities` entry with a present value (true, a number
 *   above 0, a string other than "", "false" or "0"), each property `capability.NAME` with
 *   such a value, and `gpu` when an extended GPU resource is allocatable (`nvidia.com/gpu`,
 *   `amd.com/gpu`, `gpu.intel.com/i915`);
 * - certifications: each property `certification.NAME` with a present value;
 * - Kubernetes version: the fact `kubernetesVersion`;
 * - time zone: the property `timezone`.
 */

export const GPU_RESOURCES: readonly string[] = ['nvidia.com/gpu', 'amd.com/gpu', 'gpu.intel.com/i915'];
export const TIMEZONE_PROPERTY = 'timezone';

type Scalar = string | number | boolean;

function isPresent(value: unknown): boolean {
  if (value === true) return true;
  if (typeof value === 'number') return Number.isFinite(value) && value > 0;
  if (typeof value === 'string') return value !== '' && value !== 'false' && value !== '0';
  return false;
}

function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

export function targetRegion(target: Pick<Target, 'properties' | 'labels' | 'facts'>): string | undefined {
  const value =
    own<Scalar>(target.properties, 'region') ??
    own(target.labels, 'region') ??
    own(target.facts as Record<string, unknown>, 'region');
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function hasCapability(target: Pick<Target, 'properties' | 'facts'>, name: string): boolean {
  const facts = target.facts.capabilities;
  if (isPresent(own(facts, name)) || isPresent(own(target.properties, `capability.${name}`))) return true;
  return name === 'gpu' && GPU_RESOURCES.some((resource) => isPresent(own(facts, resource)));
}

export function hasCertification(target: Pick<Target, 'properties'>, name: string): boolean {
  return isPresent(own(target.properties, `certification.${name}`));
}

export function targetKubernetesVersion(target: Pick<Target, 'facts'>): string | undefined {
  return target.facts.kubernetesVersion;
}

export function targetTimeZone(target: Pick<Target, 'properties'>): string | undefined {
  const value = own(target.properties, TIMEZONE_PROPERTY);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Major, minor and patch of a Kubernetes version, ignoring any vendor suffix (`v1.29.3-eks-1`). */
export function kubernetesVersionCore(text: string): [number, number, number] | undefined {
  const match = /^v?(\d{1,6})(?:\.(\d{1,6}))?(?:\.(\d{1,6}))?(?:[-+].*)?$/.exec(text);
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

/** Whether Kubernetes version `actual` is at least `minimum`; false when `actual` does not read as a version. */
export function kubernetesAtLeast(actual: string, minimum: string): boolean {
  const a = kubernetesVersionCore(actual);
  const b = kubernetesVersionCore(minimum);
  if (a === undefined || b === undefined) return false;
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
}
