import { Placement } from '../documents/bundle.ts';
import type { Target } from '../documents/target.ts';
import type { BlockReason } from './block-reason.ts';
import { compileGlobs, matchesSomeGlob } from './lib/name-glob.ts';
import {
  GPU_RESOURCES,
  hasCapability,
  hasCertification,
  kubernetesAtLeast,
  targetKubernetesVersion,
  targetRegion,
} from './target-traits.ts';

/**
 * What a release declares it needs of a target: the `placement` of its Bundle (workload
 * class, capabilities, regions, minimum Kubernetes version, certifications).
 */
export const ReleaseRequirements = Placement;
export type ReleaseRequirements = Placement;

type RequirementTarget = Pick<Target, 'properties' | 'labels' | 'facts'>;

/** A requirement check compiled once per release: it reads only what the requirements name. */
export interface CompiledRequirements {
  /** A string equal for two targets exactly when the checks answer the same for both. */
  key(target: RequirementTarget): string;
  check(target: RequirementTarget): BlockReason[];
  /** The stored fields (`target_fields` names) the checks read: targets alike in these answer alike. */
  readonly fields: readonly string[];
}

/**
 * Compiles the checks of a release's requirements against targets. Regions are name globs
 * (`eu-*`). The workload class is not checked here: placement rules of policies decide
 * which classes a target may run.
 */
export function compileRequirements(requirements: ReleaseRequirements | undefined): CompiledRequirements {
  const capabilities = [...new Set(requirements?.capabilities ?? [])].sort();
  const certifications = [...new Set(requirements?.certifications ?? [])].sort();
  const regions = requirements?.regions;
  const regionGlobs = regions === undefined ? undefined : compileGlobs(regions);
  const minimum = requirements?.minKubernetesVersion;
  const key = (target: RequirementTarget): string => {
    let out = '';
    if (regionGlobs !== undefined) out += `${targetRegion(target) ?? '\u0000'}\u0001`;
    for (const name of capabilities) out += hasCapability(target, name) ? '1' : '0';
    for (const name of certifications) out += hasCertification(target, name) ? '1' : '0';
    if (minimum !== undefined) out += `\u0001${targetKubernetesVersion(target) ?? '\u0000'}`;
    return out;
  };
  const check = (target: RequirementTarget): BlockReason[] => {
    const reasons: BlockReason[] = [];
    const missing = capabilities.filter((name) => !hasCapability(target, name));
    if (missing.length > 0) {
      reasons.push({
        kind: 'placement',
        rule: 'requirements.capabilities',
        message: `the release needs ${list(missing)}, which the target's facts and properties do not provide`,
      });
    }
    if (regionGlobs !== undefined) {
      const region = targetRegion(target);
      if (region === undefined || !matchesSomeGlob(regionGlobs, region)) {
        reasons.push({
          kind: 'placement',
          rule: 'requirements.regions',
          message: `the release runs only in ${list(regions ?? [])}; the target is ${region === undefined ? 'in no region' : `in ${region}`}`,
        });
      }
    }
    if (minimum !== undefined) {
      const version = targetKubernetesVersion(target);
      if (version === undefined || !kubernetesAtLeast(version, minimum)) {
        reasons.push({
          kind: 'placement',
          rule: 'requirements.minKubernetesVersion',
          message: `the release needs Kubernetes ${minimum} or later; the target reports ${version ?? 'no version'}`,
        });
      }
    }
    const uncertified = certifications.filter((name) => !hasCertification(target, name));
    if (uncertified.length > 0) {
      reasons.push({
        kind: 'placement',
        rule: 'requirements.certifications',
        message: `the release needs certification ${list(uncertified)}, which the target's properties do not record`,
      });
    }
    return reasons;
  };
  const fields = [
    ...(regionGlobs === undefined ? [] : ['properties.region', 'labels.region', 'facts.region']),
    ...capabilities.flatMap((name) => [
      `facts.capabilities.${name}`,
      `properties.capability.${name}`,
      ...(name === 'gpu' ? GPU_RESOURCES.map((resource) => `facts.capabilities.${resource}`) : []),
    ]),
    ...certifications.map((name) => `properties.certification.${name}`),
    ...(minimum === undefined ? [] : ['facts.kubernetesVersion']),
  ];
  return { key, check, fields };
}

function list(items: readonly string[]): string {
  return items.join(', ');
}
