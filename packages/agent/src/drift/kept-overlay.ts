import { canonicalize, resourceKey, type Resource } from '@flotilla/protocol';
import {
  removeValueAtPath,
  setValueAtPath,
  valueAtPath,
  type DriftDecision,
  type LiveObject,
} from '@flotilla/protocol/drift';

/** A decision that leaves the live value where it is: accepted, waited for, alerted, or held. */
export function keeps(decision: DriftDecision): boolean {
  return decision.action !== 'revert';
}

/**
 * The resources to write so that drift the policy keeps stays kept: each kept `modified` field
 * carries the live value, and each kept `removed` field is left out. Applied this way,
 * server-side apply meets no conflict on those fields (Flotilla then shares them at the value
 * their other writer set) and a file rewritten for the rest of a resource keeps the hand edit.
 * The diff still compares against the true desired state, so a kept change stays reported
 * until an operator adopts or reverts it.
 *
 * Values are read from the live object, never from the decision (whose Secret values are
 * redacted). A path the resource does not have any more (a new release dropped it) is skipped,
 * and so is a change Flotilla itself made, which is not anyone's to keep: one its field
 * managers wrote (`self`: an apply that failed half way), or, where the substrate does not say
 * who wrote what, one that matches the release an interrupted apply was writing
 * (`interrupted`, by resource key).
 */
export function withKeptDrift(
  resources: readonly Resource[],
  decisions: readonly DriftDecision[],
  live: ReadonlyMap<string, LiveObject>,
  self: ReadonlySet<string> = new Set(),
  interrupted: ReadonlyMap<string, Resource> = new Map(),
): Resource[] {
  const kept = new Map<string, DriftDecision[]>();
  for (const decision of decisions) {
    const { change, path, resourceKey: key } = decision.item;
    if (
      !keeps(decision) ||
      path === '' ||
      (change !== 'modified' && change !== 'removed') ||
      self.has(decision.actor.manager) ||
      wroteIt(interrupted.get(key), live.get(key), path, change)
    )
      continue;
    let list = kept.get(key);
    if (list === undefined) kept.set(key, (list = []));
    list.push(decision);
  }
  if (kept.size === 0) return [...resources];
  return resources.map((resource) => {
    const key = resourceKey(resource);
    const mine = kept.get(key);
    const object = live.get(key);
    if (mine === undefined || object === undefined) return resource;
    const copy = structuredClone(resource) as Resource & Record<string, unknown>;
    for (const { item } of mine) {
      try {
        if (item.change === 'removed') removeValueAtPath(copy, item.path);
        else {
          const value = valueAtPath(object, item.path);
          if (value !== undefined && valueAtPath(copy, item.path) !== undefined)
            setValueAtPath(copy, item.path, structuredClone(value));
        }
      } catch {
        // A path that does not parse cannot be kept; the drift stays reported.
      }
    }
    return copy;
  });
}

/** Whether the interrupted apply's own version of the resource accounts for this change. */
function wroteIt(
  written: Resource | undefined,
  object: LiveObject | undefined,
  path: string,
  change: 'modified' | 'removed',
): boolean {
  if (written === undefined || object === undefined) return false;
  try {
    const ours = valueAtPath(written, path);
    if (change === 'removed') return ours === undefined;
    return ours !== undefined && canonicalize(ours) === canonicalize(valueAtPath(object, path));
  } catch {
    return false;
  }
}
