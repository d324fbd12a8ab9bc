import { sha256 } from '../crypto/digest.ts';
import { resourceKey, type Resource } from '../documents/resource.ts';
import { FlotillaError } from '../errors.ts';
import type { DriftChange } from '../documents/drift-vocabulary.ts';
import { REDACTED } from './drift-item.ts';
import { DRIFT_VALUE_PREVIEW_MAX } from '../documents/drift-report.ts';
import { removeValueAtPath, setValueAtPath } from './path-value.ts';

/**
 * The id the hub gives a drift item: a short hash of its resource key and path, so the same
 * drift keeps its id from report to report and reads the same on the hub, in the CLI and in
 * an envelope's revert list.
 *
 * @example driftItemId('Deployment.apps/shop/web', 'spec.replicas') // 'd1f0c2…' (12 hex digits)
 */
export function driftItemId(key: string, path: string): string {
  return sha256(`${key}\n${path}`).slice('sha256:'.length, 'sha256:'.length + 12);
}

/**
 * Reads a value preview of a drift report back into the value. Undefined when the preview
 * cannot stand for the value: cut at {@link DRIFT_VALUE_PREVIEW_MAX} characters, or a redacted
 * Secret value.
 */
export function driftPreviewValue(preview: string | undefined): { readonly value: unknown } | undefined {
  if (preview === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(preview);
  } catch {
    // A preview cut short ends in an ellipsis and no longer parses.
    return undefined;
  }
  if (value === REDACTED || (preview.length >= DRIFT_VALUE_PREVIEW_MAX && preview.endsWith('…'))) return undefined;
  return { value };
}

/** A drift item to adopt: where, what kind of change, and the value observed there. */
export interface AdoptDriftItem {
  readonly resourceKey: string;
  readonly path: string;
  readonly change: DriftChange;
  /** The observed value (parsed), for `modified` and `added`. */
  readonly observed?: unknown;
}

/** Whether a resource of a bundle is the one a drift item names (a bundle may leave a namespace to the driver). */
function sameResource(resource: Resource, key: string): boolean {
  const own = resourceKey(resource);
  if (own === key) return true;
  if (resource.metadata.namespace !== undefined) return false;
  // `Kind.group//name` in the bundle, `Kind.group/ns/name` as observed.
  const [kind, , ...name] = own.split('/');
  const [otherKind, , ...otherName] = key.split('/');
  return kind === otherKind && name.join('/') === otherName.join('/');
}

/**
 * Writes observed drift into a copy of a release's resources, so that desired state catches up
 * with what runs: a `modified` or `added` field takes the observed value, a `removed` field is
 * removed, a `deleted-resource` leaves the release. Items of resources the release does not
 * hold are left for other releases and returned in `unmatched`.
 *
 * Throws `VALIDATION_FAILED` for an item that cannot be adopted: an `extra-resource` (the report
 * does not carry the object), or a value the report only previews (cut short or redacted).
 */
export function adoptDrift(
  resources: readonly Resource[],
  items: readonly AdoptDriftItem[],
): { resources: Resource[]; adopted: AdoptDriftItem[]; unmatched: AdoptDriftItem[] } {
  const copies = resources.map((resource) => structuredClone(resource));
  const dropped = new Set<number>();
  const adopted: AdoptDriftItem[] = [];
  const unmatched: AdoptDriftItem[] = [];
  for (const item of items) {
    const at = copies.findIndex((resource) => sameResource(resource, item.resourceKey));
    if (at === -1) {
      unmatched.push(item);
      continue;
    }
    const resource = copies[at] as Resource;
    const where = `${item.resourceKey}${item.path === '' ? '' : ` ${item.path}`}`;
    switch (item.change) {
      case 'extra-resource':
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `${where} is a resource no release holds any more; its content is not in the report, so it cannot be adopted: put it into a release by hand`,
        );
      case 'deleted-resource':
        dropped.add(at);
        break;
      case 'removed':
        removeValueAtPath(resource, item.path);
        break;
      case 'modified':
      case 'added':
        if (!Object.hasOwn(item, 'observed')) {
          throw new FlotillaError(
            'VALIDATION_FAILED',
            `${where}: the observed value is not known (too long for the report, or a Secret value); adopt it by editing the release by hand`,
          );
        }
        if (!setValueAtPath(resource, item.path, item.observed)) {
          throw new FlotillaError(
            'VALIDATION_FAILED',
            `${where}: the release's ${resource.kind} has no place for this path; adopt it by editing the release by hand`,
          );
        }
        break;
    }
    adopted.push(item);
  }
  return { resources: copies.filter((_, index) => !dropped.has(index)), adopted, unmatched };
}
