import type { AttributionBasis, DriftOperation } from '../documents/drift-vocabulary.ts';
import type { DriftItem } from './drift-item.ts';
import { parseFieldPath, type PathSegment } from './field-path.ts';
import { isJsonObject } from './lib/json-value.ts';
import { liveResourceKey, type LiveObject } from './live-object.ts';
import { reachOf, readManagedFields, type ManagedFieldsEntry } from './managed-fields.ts';

/** The field manager name the Flotilla agent applies with (server-side apply): the kubernetes driver's default. */
export const FLOTILLA_FIELD_MANAGER = 'flotilla';

/**
 * The field managers treated as Flotilla itself when no `selfManagers` are given: the driver's
 * default, and `flotilla-agent`, which earlier agents and some setups apply with.
 */
export const FLOTILLA_FIELD_MANAGERS: readonly string[] = Object.freeze([FLOTILLA_FIELD_MANAGER, 'flotilla-agent']);

/** The annotation that puts one resource on hold: its value names the hold (an incident id). */
const HOLD_ANNOTATION = 'flotilla.io/hold';

/**
 * Who changed a field, as far as the substrate says. Kubernetes field manager names are chosen
 * by the client that writes (`--field-manager`, or its User-Agent), and managedFields itself
 * can be rewritten by anyone who may update the object: an actor is a hint, never an identity.
 */
export interface DriftActor {
  readonly manager: string;
  readonly operation: DriftOperation;
  readonly subresource?: string;
  readonly basis: AttributionBasis;
}

/** The actor of a change the substrate says nothing about. */
const UNKNOWN_ACTOR: DriftActor = Object.freeze({ manager: 'unknown', operation: 'unknown', basis: 'none' });

/** A drift item with its actor, when the change happened, and any hold annotation on the object. */
export interface AttributedDriftItem {
  readonly item: DriftItem;
  readonly actor: DriftActor;
  /** When the actor's managedFields entry last changed (RFC 3339); absent when unknown. */
  readonly since?: string;
  /** The value of the live object's `flotilla.io/hold` annotation, if it has one. */
  readonly annotationHold?: string;
}

/** Options of {@link attributeDrift}. */
export interface AttributeOptions {
  /** Field managers that are Flotilla itself; others are preferred when several own a field. Default {@link FLOTILLA_FIELD_MANAGERS}. */
  readonly selfManagers?: readonly string[];
}

function newer(a: ManagedFieldsEntry, b: ManagedFieldsEntry): boolean {
  const ta = a.time === undefined ? Number.NEGATIVE_INFINITY : Date.parse(a.time);
  const tb = b.time === undefined ? Number.NEGATIVE_INFINITY : Date.parse(b.time);
  return (Number.isNaN(ta) ? Number.NEGATIVE_INFINITY : ta) > (Number.isNaN(tb) ? Number.NEGATIVE_INFINITY : tb);
}

/** Prefers managers that are not Flotilla, then the most recent entry. */
function pick(entries: readonly ManagedFieldsEntry[], self: ReadonlySet<string>): ManagedFieldsEntry | undefined {
  let best: ManagedFieldsEntry | undefined;
  for (const entry of entries) {
    if (best === undefined) best = entry;
    else {
      const bestIsSelf = self.has(best.manager);
      const isSelf = self.has(entry.manager);
      if (bestIsSelf !== isSelf ? bestIsSelf : newer(entry, best)) best = entry;
    }
  }
  return best;
}

function managerActor(entry: ManagedFieldsEntry, basis: AttributionBasis): DriftActor {
  return {
    manager: entry.manager,
    operation: entry.operation,
    ...(entry.subresource === undefined ? {} : { subresource: entry.subresource }),
    basis,
  };
}

function attributeOne(
  item: DriftItem,
  live: LiveObject,
  entries: readonly ManagedFieldsEntry[],
  self: ReadonlySet<string>,
): [DriftActor, ManagedFieldsEntry | undefined] {
  if (
    entries.length === 0 ||
    item.change === 'deleted-resource' ||
    item.change === 'extra-resource' ||
    item.path === ''
  )
    return [UNKNOWN_ACTOR, undefined];
  let segments: PathSegment[];
  try {
    segments = parseFieldPath(item.path);
  } catch {
    return [UNKNOWN_ACTOR, undefined];
  }
  const exact: ManagedFieldsEntry[] = [];
  const ancestor: ManagedFieldsEntry[] = [];
  let nearest: ManagedFieldsEntry[] = [];
  let nearestDepth = 0;
  for (const entry of entries) {
    const reach = reachOf(entry.fields, segments, live);
    if (reach.ownership === 'exact') exact.push(entry);
    else if (reach.ownership === 'ancestor') ancestor.push(entry);
    // Flotilla did not remove its own field: leave it out of the guess.
    else if (!self.has(entry.manager) && reach.depth > 0) {
      if (reach.depth > nearestDepth) {
        nearest = [entry];
        nearestDepth = reach.depth;
      } else if (reach.depth === nearestDepth) nearest.push(entry);
    }
  }
  const chosen = pick(exact, self);
  if (chosen !== undefined) return [managerActor(chosen, 'field-owner'), chosen];
  const covering = pick(ancestor, self);
  if (covering !== undefined) return [managerActor(covering, 'ancestor-owner'), covering];
  // A field nobody owns any more was removed; the manager that last touched its surroundings
  // is the best guess there is.
  const guess = item.change === 'removed' ? pick(nearest, self) : undefined;
  if (guess !== undefined) return [managerActor(guess, 'nearest-manager'), guess];
  return [UNKNOWN_ACTOR, undefined];
}

function holdOf(live: LiveObject | undefined): string | undefined {
  const metadata = live?.metadata;
  if (!isJsonObject(metadata) || !isJsonObject(metadata.annotations)) return undefined;
  const value = metadata.annotations[HOLD_ANNOTATION];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Names the actor of each drift item from the live object's `metadata.managedFields`: the
 * manager and operation whose FieldsV1 set owns the drifted field, and that entry's `time` as
 * `since`. Live objects without managedFields (manifests-dir, older API servers), deleted and
 * extra resources get the `unknown` actor. Pass the extra objects among `live` too, so that
 * their hold annotation is read.
 *
 * @example
 * const attributed = attributeDrift(diffResources(desired, live), live);
 * attributed[0].actor // { manager: 'kubectl-edit', operation: 'Update', basis: 'field-owner' }
 */
export function attributeDrift(
  items: readonly DriftItem[],
  live: readonly LiveObject[] | ReadonlyMap<string, LiveObject>,
  options: AttributeOptions = {},
): AttributedDriftItem[] {
  const self = new Set(options.selfManagers ?? FLOTILLA_FIELD_MANAGERS);
  let byKey: ReadonlyMap<string, LiveObject>;
  if (live instanceof Map) byKey = live;
  else {
    // Only the resources that drifted are looked up, so index only those.
    const wanted = new Set(items.map((item) => item.resourceKey));
    const map = new Map<string, LiveObject>();
    for (const object of live as readonly LiveObject[]) {
      const key = liveResourceKey(object);
      if (key !== undefined && wanted.has(key) && !map.has(key)) map.set(key, object);
    }
    byKey = map;
  }
  const entriesByKey = new Map<string, ManagedFieldsEntry[]>();
  return items.map((item) => {
    const object = item.change === 'deleted-resource' ? undefined : byKey.get(item.resourceKey);
    let actor: DriftActor = UNKNOWN_ACTOR;
    let entry: ManagedFieldsEntry | undefined;
    if (object !== undefined) {
      let entries = entriesByKey.get(item.resourceKey);
      if (entries === undefined) {
        entries = readManagedFields(object);
        entriesByKey.set(item.resourceKey, entries);
      }
      [actor, entry] = attributeOne(item, object, entries, self);
    }
    const annotationHold = holdOf(object);
    return {
      item,
      actor,
      ...(entry?.time === undefined ? {} : { since: entry.time }),
      ...(annotationHold === undefined ? {} : { annotationHold }),
    };
  });
}
