import { z } from 'zod';
import { FlotillaError } from '../errors.ts';

const dnsSubdomain = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'a Kubernetes name is lowercase letters, digits, dots and dashes');

const ObjectMeta = z.looseObject({
  name: dnsSubdomain,
  namespace: dnsSubdomain.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** A Kubernetes-style manifest. Fields beyond the identity are the resource's own business. */
export const Resource = z.looseObject({
  apiVersion: z
    .string()
    .regex(
      /^([a-z0-9.-]+\/)?v[0-9]+([a-z]+[0-9]*)?$/,
      'apiVersion is group/version or version, for example apps/v1 or v1',
    ),
  kind: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'kind is a capitalized name such as ConfigMap'),
  metadata: ObjectMeta,
});
export type Resource = z.infer<typeof Resource>;

/** The group of an apiVersion: `apps` for `apps/v1`, empty for the core `v1`. */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

/**
 * A resource's identity across versions: `Kind.group/namespace/name`. The API version is left
 * out so that moving a manifest from v1beta1 to v1 updates it instead of pruning it.
 */
export function resourceKey(resource: Pick<Resource, 'apiVersion' | 'kind' | 'metadata'>): string {
  const group = groupOf(resource.apiVersion);
  return `${resource.kind}${group === '' ? '' : `.${group}`}/${resource.metadata.namespace ?? ''}/${resource.metadata.name}`;
}

/** Throws when two resources of a set share an identity, naming the duplicate. */
export function assertUniqueResources(resources: readonly Resource[]): void {
  const seen = new Set<string>();
  for (const resource of resources) {
    const key = resourceKey(resource);
    if (seen.has(key))
      throw new FlotillaError(
        'MANIFEST_INVALID',
        `resource ${key} appears twice; each kind, namespace and name may appear once per bundle`,
      );
    seen.add(key);
  }
}
