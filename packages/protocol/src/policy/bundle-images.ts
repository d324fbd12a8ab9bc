import type { Bundle } from '../documents/bundle.ts';
import { resourceKey } from '../documents/resource.ts';

const CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const MAX_NODES = 1_000_000;

/** A container image named by a resource of a bundle. */
export interface BundleImage {
  readonly image: string;
  readonly resource: string;
}

/**
 * Every container image a bundle's resources name: the `image` of each entry of any
 * `containers`, `initContainers` or `ephemeralContainers` list, wherever the list sits
 * (a Pod's spec, a Deployment's template, a CronJob's job template, a custom resource that
 * embeds one). Walks without recursion, so no manifest can overflow the stack.
 */
export function bundleImages(bundle: Pick<Bundle, 'resources'>): BundleImage[] {
  const images: BundleImage[] = [];
  const seen = new Set<string>();
  let nodes = 0;
  for (const resource of bundle.resources) {
    const key = resourceKey(resource);
    const stack: unknown[] = [resource];
    while (stack.length > 0 && nodes++ < MAX_NODES) {
      const node = stack.pop();
      if (Array.isArray(node)) {
        stack.push(...(node as unknown[]));
      } else if (typeof node === 'object' && node !== null) {
        for (const [field, value] of Object.entries(node)) {
          if (CONTAINER_LISTS.has(field) && Array.isArray(value)) {
            for (const container of value) {
              const image =
                typeof container === 'object' && container !== null
                  ? (container as { image?: unknown }).image
                  : undefined;
              if (typeof image === 'string' && !seen.has(`${key}\u0000${image}`)) {
                seen.add(`${key}\u0000${image}`);
                images.push({ image, resource: key });
              }
            }
          }
          stack.push(value);
        }
      }
    }
  }
  return images;
}
