import { groupOf } from '../documents/resource.ts';
import { isJsonObject } from './lib/json-value.ts';

/**
 * A resource as read from the substrate: a Kubernetes object with server-set fields
 * (managedFields, status, resourceVersion, ...) or a manifest read back from a directory.
 * It is not validated as a {@link Resource}: whatever is there is what is observed.
 */
export type LiveObject = Readonly<Record<string, unknown>>;

/** The {@link resourceKey} of a live object, or undefined when it lacks kind, apiVersion or name. */
export function liveResourceKey(live: LiveObject): string | undefined {
  const { apiVersion, kind, metadata } = live;
  if (
    typeof apiVersion !== 'string' ||
    typeof kind !== 'string' ||
    !isJsonObject(metadata) ||
    typeof metadata.name !== 'string'
  )
    return undefined;
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
  const group = groupOf(apiVersion);
  return `${kind}${group === '' ? '' : `.${group}`}/${namespace}/${metadata.name}`;
}
