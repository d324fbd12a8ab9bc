import { resourceKey, type Resource } from '../documents/resource.ts';
import { compileDiffOptions, diffResource, type DiffOptions } from './diff-resource.ts';
import type { DriftItem } from './drift-item.ts';
import { liveResourceKey, type LiveObject } from './live-object.ts';

/**
 * Diffs a desired set against what was observed. Each desired resource is matched with the
 * live object of the same {@link resourceKey}; one without a live object is a
 * `deleted-resource`. `extra` are live objects Flotilla manages that are no longer desired
 * (the caller knows them from its inventory of what it applied): each is an `extra-resource`.
 * Live objects that are neither desired nor extra are not Flotilla's and are left alone.
 * Desired resources carry their namespace (defaulted by the driver before the diff), since the
 * key they are matched by includes it.
 *
 * Items come out in desired order, then extras, and within a resource in field order, so the
 * same inputs always give the same list.
 */
export function diffResources(
  desired: readonly Resource[],
  live: readonly LiveObject[] | ReadonlyMap<string, LiveObject>,
  extra: readonly LiveObject[] = [],
  options: DiffOptions = {},
): DriftItem[] {
  let byKey: ReadonlyMap<string, LiveObject>;
  if (live instanceof Map) byKey = live;
  else {
    const map = new Map<string, LiveObject>();
    for (const object of live as readonly LiveObject[]) {
      const key = liveResourceKey(object);
      if (key !== undefined && !map.has(key)) map.set(key, object);
    }
    byKey = map;
  }
  const compiled = compileDiffOptions(options);
  const items: DriftItem[] = [];
  const desiredKeys = new Set<string>();
  for (const resource of desired) {
    const key = resourceKey(resource);
    desiredKeys.add(key);
    for (const item of diffResource(resource, byKey.get(key), compiled)) items.push(item);
  }
  for (const object of extra) {
    const key = liveResourceKey(object);
    if (key === undefined || desiredKeys.has(key)) continue;
    items.push({ resourceKey: key, kind: object.kind as string, path: '', change: 'extra-resource' });
  }
  return items;
}
