import { parseFieldPath, type PathSegment } from './field-path.ts';
import { isJsonObject, keyText } from './lib/json-value.ts';

/**
 * Reading and writing one field of a resource by its drift path (see {@link parseFieldPath}):
 * how the agent keeps a drifted value it decided not to revert, and how `flotilla drift adopt`
 * writes an observed value into a release. Keyed list items (`containers[name=app]`) are found
 * by their key fields, compared as text, the way the diff named them.
 */

/** The position of a keyed item in a list, or -1. */
function findKeyed(list: readonly unknown[], keys: readonly (readonly [string, string])[]): number {
  return list.findIndex((item) => isJsonObject(item) && keys.every(([field, value]) => keyText(item[field]) === value));
}

function segmentsOf(path: string | readonly PathSegment[]): readonly PathSegment[] {
  return typeof path === 'string' ? parseFieldPath(path) : path;
}

/** One step down from `node`, or undefined when it is not there. */
function step(node: unknown, segment: PathSegment): unknown {
  switch (segment.kind) {
    case 'field':
      return isJsonObject(node) && Object.hasOwn(node, segment.name) ? node[segment.name] : undefined;
    case 'index':
      return Array.isArray(node) ? node[segment.index] : undefined;
    case 'key': {
      if (!Array.isArray(node)) return undefined;
      const at = findKeyed(node, segment.keys);
      return at === -1 ? undefined : node[at];
    }
  }
}

/** The value at a drift path, or undefined when the object does not have it. */
export function valueAtPath(object: unknown, path: string | readonly PathSegment[]): unknown {
  let node = object;
  for (const segment of segmentsOf(path)) {
    node = step(node, segment);
    if (node === undefined) return undefined;
  }
  return node;
}

/**
 * Sets the value at a drift path in place, creating missing maps on the way (and a keyed list
 * item carrying its key fields, for a list keyed by name). Returns false, changing nothing,
 * when the path cannot exist in this object: an index beyond a list, or a scalar in the way.
 */
export function setValueAtPath(
  object: Record<string, unknown>,
  path: string | readonly PathSegment[],
  value: unknown,
): boolean {
  const segments = segmentsOf(path);
  if (segments.length === 0) return false;
  // Check the whole way first so that a failure leaves the object as it was.
  if (!reachable(object, segments)) return false;
  let node: unknown = object;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as PathSegment;
    const last = i === segments.length - 1;
    const next = segments[i + 1];
    const fresh = (): unknown => (next?.kind === 'field' ? {} : []);
    switch (segment.kind) {
      case 'field': {
        const map = node as Record<string, unknown>;
        if (last) map[segment.name] = value;
        else if (map[segment.name] === undefined || map[segment.name] === null) map[segment.name] = fresh();
        node = map[segment.name];
        break;
      }
      case 'index': {
        const list = node as unknown[];
        if (last) list[segment.index] = value;
        node = list[segment.index];
        break;
      }
      case 'key': {
        const list = node as unknown[];
        let at = findKeyed(list, segment.keys);
        if (last) {
          if (at === -1) list.push(value);
          else list[at] = value;
          node = value;
          break;
        }
        if (at === -1) {
          list.push(Object.fromEntries(segment.keys.map(([field, text]) => [field, keyValue(text)])));
          at = list.length - 1;
        }
        node = list[at];
        break;
      }
    }
  }
  return true;
}

/** A key value as it was most likely written: ports are numbers, names are text. */
function keyValue(text: string): string | number {
  return /^(0|[1-9][0-9]{0,8})$/.test(text) ? Number(text) : text;
}

function reachable(object: unknown, segments: readonly PathSegment[]): boolean {
  let node = object;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as PathSegment;
    const last = i === segments.length - 1;
    if (segment.kind === 'field' && !isJsonObject(node)) return false;
    if (segment.kind !== 'field' && !Array.isArray(node)) return false;
    if (segment.kind === 'index' && segment.index >= (node as unknown[]).length + (last ? 1 : 0)) return false;
    const child = step(node, segment);
    if (child === undefined || child === null) {
      // What is missing is created, so the rest of the path need only be well formed.
      return segments.slice(i + 1).every((rest) => rest.kind !== 'index');
    }
    node = child;
  }
  return true;
}

/** Removes the field or list item at a drift path in place; false when it was not there. */
export function removeValueAtPath(object: Record<string, unknown>, path: string | readonly PathSegment[]): boolean {
  const segments = segmentsOf(path);
  if (segments.length === 0) return false;
  const parent = valueAtPath(object, segments.slice(0, -1));
  const last = segments[segments.length - 1] as PathSegment;
  switch (last.kind) {
    case 'field':
      if (!isJsonObject(parent) || !Object.hasOwn(parent, last.name)) return false;
      delete parent[last.name];
      return true;
    case 'index':
      if (!Array.isArray(parent) || last.index >= parent.length) return false;
      parent.splice(last.index, 1);
      return true;
    case 'key': {
      if (!Array.isArray(parent)) return false;
      const at = findKeyed(parent, last.keys);
      if (at === -1) return false;
      parent.splice(at, 1);
      return true;
    }
  }
}

/**
 * The RFC 6901 JSON pointer of a drift path in one object, with keyed list items resolved to
 * their positions in it; undefined when the object does not have the path. For a JSON patch
 * that removes a field someone added, against exactly the object that was read.
 *
 * @example jsonPointerAt(live, 'spec.template.spec.containers[name=app].securityContext.privileged')
 * // '/spec/template/spec/containers/0/securityContext/privileged'
 */
export function jsonPointerAt(object: unknown, path: string | readonly PathSegment[]): string | undefined {
  let node = object;
  let pointer = '';
  for (const segment of segmentsOf(path)) {
    let token: string;
    if (segment.kind === 'field') token = segment.name;
    else if (segment.kind === 'index') token = String(segment.index);
    else {
      if (!Array.isArray(node)) return undefined;
      const at = findKeyed(node, segment.keys);
      if (at === -1) return undefined;
      token = String(at);
    }
    node = step(node, segment);
    if (node === undefined) return undefined;
    pointer += `/${token.replaceAll('~', '~0').replaceAll('/', '~1')}`;
  }
  return pointer;
}
