import type { PathSegment } from './field-path.ts';
import { isJsonObject, jsonEqual, keyText } from './lib/json-value.ts';
import type { LiveObject } from './live-object.ts';

/**
 * A FieldsV1 set: a trie whose keys are `f:<field>` (a struct field or map key),
 * `k:<json object>` (a keyed list item, by its key fields), `v:<json>` (a set item, by value),
 * `i:<n>` (a list item by index), and `.` (the node itself is in the set). An empty node is a
 * member with nothing managed beneath it separately.
 */
export type FieldsV1 = { readonly [key: string]: FieldsV1 };

/** One `metadata.managedFields` entry, as far as attribution needs it. */
export interface ManagedFieldsEntry {
  /** Self-asserted by the client: a hint, not an identity. */
  readonly manager: string;
  readonly operation: 'Apply' | 'Update' | 'unknown';
  readonly subresource?: string;
  /** When the entry last changed (RFC 3339), as the API server recorded it. */
  readonly time?: string;
  readonly fields: FieldsV1;
}

/**
 * Reads `metadata.managedFields` leniently: entries without a manager or a FieldsV1 set are
 * skipped, since a malformed entry must not stop the drift report.
 */
export function readManagedFields(live: LiveObject): ManagedFieldsEntry[] {
  const metadata = live.metadata;
  if (!isJsonObject(metadata) || !Array.isArray(metadata.managedFields)) return [];
  const entries: ManagedFieldsEntry[] = [];
  for (const raw of metadata.managedFields) {
    if (!isJsonObject(raw) || typeof raw.manager !== 'string' || !isJsonObject(raw.fieldsV1)) continue;
    if (raw.fieldsType !== undefined && raw.fieldsType !== 'FieldsV1') continue;
    entries.push({
      manager: raw.manager,
      operation: raw.operation === 'Apply' || raw.operation === 'Update' ? raw.operation : 'unknown',
      ...(typeof raw.subresource === 'string' && raw.subresource !== '' ? { subresource: raw.subresource } : {}),
      ...(typeof raw.time === 'string' ? { time: raw.time } : {}),
      fields: raw.fieldsV1 as FieldsV1,
    });
  }
  return entries;
}

// `k:` and `v:` keys repeat across objects (`k:{"name":"app"}`); parsing each once is enough.
const parsedKeys = new Map<string, unknown>();
const PARSE_FAILED = Symbol('unparsable');

function parseElement(key: string): unknown {
  let value = parsedKeys.get(key);
  if (value === undefined) {
    try {
      value = JSON.parse(key.slice(2)) as unknown;
    } catch {
      value = PARSE_FAILED;
    }
    if (parsedKeys.size > 10_000) parsedKeys.clear();
    parsedKeys.set(key, value);
  }
  return value;
}

function isMember(node: FieldsV1): boolean {
  return isLeaf(node) || Object.hasOwn(node, '.');
}

function isLeaf(node: FieldsV1): boolean {
  for (const _ in node) return false;
  return true;
}

/** The child of `node` naming the list item `item` (the live one, when there is one). */
function listChild(node: FieldsV1, segment: PathSegment, item: unknown, index: number | undefined): string | undefined {
  for (const key in node) {
    if (key.startsWith('k:')) {
      const keys = parseElement(key);
      if (!isJsonObject(keys)) continue;
      if (isJsonObject(item)) {
        let all = true;
        for (const field in keys) {
          if (!jsonEqual(keys[field], item[field])) {
            all = false;
            break;
          }
        }
        if (all) return key;
      } else if (segment.kind === 'key') {
        // The item is gone from the live object: match on the key fields the path names.
        if (segment.keys.every(([field, value]) => keyText(keys[field]) === value)) return key;
      }
    } else if (key.startsWith('v:')) {
      if (item !== undefined && jsonEqual(parseElement(key), item)) return key;
    } else if (key.startsWith('i:')) {
      if (index !== undefined && key === `i:${index}`) return key;
    }
  }
  return undefined;
}

function findItem(list: unknown, segment: PathSegment): [unknown, number | undefined] {
  if (!Array.isArray(list)) return [undefined, segment.kind === 'index' ? segment.index : undefined];
  if (segment.kind === 'index') return [list[segment.index], segment.index];
  if (segment.kind === 'key') {
    for (let i = 0; i < list.length; i++) {
      const item: unknown = list[i];
      if (isJsonObject(item) && segment.keys.every(([field, value]) => keyText(item[field]) === value))
        return [item, i];
    }
  }
  return [undefined, undefined];
}

/** How far one manager's set reaches along a path. */
export interface Reach {
  /** How many segments of the path the set contains. */
  readonly depth: number;
  /**
   * `exact`: the set contains the path itself; `ancestor`: it contains an ancestor as a leaf
   * (an atomic field, which covers everything beneath it); `none`: neither.
   */
  readonly ownership: 'exact' | 'ancestor' | 'none';
}

/**
 * Follows `segments` through one FieldsV1 set. List items are resolved through the live
 * object, because FieldsV1 names them by all their key fields (`k:{"containerPort":80,
 * "protocol":"TCP"}`) or by value (`v:"NET_ADMIN"`) while a drift path may name them by index.
 */
export function reachOf(fields: FieldsV1, segments: readonly PathSegment[], live: LiveObject): Reach {
  let node = fields;
  let value: unknown = live;
  for (let depth = 0; depth < segments.length; depth++) {
    if (depth > 0 && isLeaf(node)) return { depth, ownership: 'ancestor' };
    const segment = segments[depth] as PathSegment;
    let child: string | undefined;
    if (segment.kind === 'field') {
      child = `f:${segment.name}`;
      if (!Object.hasOwn(node, child)) child = undefined;
      value = isJsonObject(value) ? value[segment.name] : undefined;
    } else {
      const [item, index] = findItem(value, segment);
      child = listChild(node, segment, item, index);
      value = item;
    }
    if (child === undefined) return { depth, ownership: 'none' };
    node = node[child] as FieldsV1;
  }
  return { depth: segments.length, ownership: isMember(node) ? 'exact' : 'none' };
}
