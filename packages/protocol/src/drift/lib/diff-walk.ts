import { IGNORED_ANNOTATIONS, IGNORED_METADATA, IGNORED_TOP_LEVEL, OMITTED_WHEN_EMPTY } from '../platform-fields.ts';
import { emit, lazyKey, type DiffSink } from './diff-sink.ts';
import { isEmptyContainer, isJsonObject, isUnset, type JsonObject } from './json-value.ts';
import { chooseListKey, keyTuple } from './list-keys.ts';
import { QUANTITY_PARENTS, quantitiesEqual } from './quantity.ts';

/**
 * Compares a desired resource with its live object, field by field, over the fields the
 * desired one sets. Fields only the live object has are defaults, controller state or other
 * managers' business and are not looked at here (see security-additions.ts for the
 * exceptions).
 */
export function walkResource(sink: DiffSink, desired: JsonObject, live: JsonObject): void {
  for (const key in desired) {
    if (IGNORED_TOP_LEVEL.has(key)) continue;
    const d = desired[key];
    if (key === 'metadata' && isJsonObject(d)) {
      const l = live.metadata;
      sink.stack.push('metadata');
      if (isJsonObject(l)) walkMetadata(sink, d, l);
      else compareValue(sink, d, l, 'metadata', undefined);
      sink.stack.pop();
      continue;
    }
    sink.stack.push(key);
    compareValue(sink, d, live[key], key, undefined);
    sink.stack.pop();
  }
}

function walkMetadata(sink: DiffSink, desired: JsonObject, live: JsonObject): void {
  for (const key in desired) {
    if (IGNORED_METADATA.has(key)) continue;
    const d = desired[key];
    sink.stack.push(key);
    if ((key === 'annotations' || key === 'labels') && isJsonObject(d)) {
      // One item per key, even when the live object lost the whole map: each key may have
      // been removed by someone else, and ignored annotations stay ignored.
      const l = live[key];
      compareObject(sink, d, isJsonObject(l) ? l : {}, key, key === 'annotations' ? IGNORED_ANNOTATIONS : undefined);
    } else {
      compareValue(sink, d, live[key], key, undefined);
    }
    sink.stack.pop();
  }
}

/**
 * Compares one desired value with the live value at the same path. `field` is the name of the
 * field holding the values (it decides list keys and empty-map handling), `parent` the name
 * of the field holding the object they are in (it decides quantity comparison).
 */
function compareValue(
  sink: DiffSink,
  d: unknown,
  l: unknown,
  field: string | undefined,
  parent: string | undefined,
): void {
  if (isUnset(d)) return;
  if (typeof d !== 'object') {
    if (d === l) return;
    if (isUnset(l)) emit(sink, 'removed', d, undefined);
    else if (!(parent !== undefined && QUANTITY_PARENTS.has(parent) && quantitiesEqual(d, l)))
      emit(sink, 'modified', d, l);
    return;
  }
  if (Array.isArray(d)) {
    if (Array.isArray(l)) compareList(sink, d, l, field);
    // Lists are omitted when empty, so a desired [] is satisfied by an absent list.
    else if (isUnset(l)) {
      if (d.length > 0) emit(sink, 'removed', d, undefined);
    } else emit(sink, 'modified', d, l);
    return;
  }
  const obj = d as JsonObject;
  if (isJsonObject(l)) compareObject(sink, obj, l, field, undefined);
  else if (isUnset(l)) {
    if (!(isEmptyContainer(obj) && field !== undefined && OMITTED_WHEN_EMPTY.has(field)))
      emit(sink, 'removed', obj, undefined);
  } else emit(sink, 'modified', obj, l);
}

function compareObject(
  sink: DiffSink,
  d: JsonObject,
  l: JsonObject,
  field: string | undefined,
  skip: ReadonlySet<string> | undefined,
): void {
  for (const key in d) {
    if (skip !== undefined && skip.has(key)) continue;
    sink.stack.push(key);
    compareValue(sink, d[key], l[key], key, field);
    sink.stack.pop();
  }
}

// Past this many live items a keyed list is indexed once instead of scanned per desired item.
const SCAN_LIMIT = 8;

function compareList(sink: DiffSink, d: readonly unknown[], l: readonly unknown[], field: string | undefined): void {
  const fields = field === undefined ? undefined : chooseListKey(field, d);
  if (fields === undefined) {
    const shared = Math.min(d.length, l.length);
    for (let i = 0; i < shared; i++) {
      sink.stack.push(i);
      compareValue(sink, d[i], l[i], undefined, undefined);
      sink.stack.pop();
    }
    // An ordered list is replaced as a whole on apply, so items beyond the desired ones were
    // put there by someone else, and missing ones were taken away.
    for (let i = shared; i < d.length; i++) {
      sink.stack.push(i);
      emit(sink, 'removed', d[i], undefined);
      sink.stack.pop();
    }
    for (let i = shared; i < l.length; i++) {
      sink.stack.push(i);
      emit(sink, 'added', undefined, l[i]);
      sink.stack.pop();
    }
    return;
  }
  let index: Map<string, unknown> | undefined;
  if (l.length > SCAN_LIMIT) {
    index = new Map();
    for (const item of l) {
      const tuple = keyTuple(item, fields);
      if (tuple !== undefined && !index.has(tuple)) index.set(tuple, item);
    }
  }
  for (const item of d) {
    const tuple = keyTuple(item, fields) as string;
    let match: unknown;
    if (index !== undefined) match = index.get(tuple);
    else {
      for (const candidate of l) {
        if (keyTuple(candidate, fields) === tuple) {
          match = candidate;
          break;
        }
      }
    }
    sink.stack.push(lazyKey(item, fields));
    if (match === undefined) emit(sink, 'removed', item, undefined);
    else compareValue(sink, item, match, undefined, undefined);
    sink.stack.pop();
  }
}
