/** A JSON object as parsed from a manifest or read from an API server. */
export type JsonObject = Record<string, unknown>;

/** True for `{...}` values: not null, not an array. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a value a manifest treats as "not set": absent or `null`. */
export function isUnset(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

/**
 * A list key field's value as the text a drift path names it by (`ports[containerPort=80]`), or
 * undefined for an object, a list or nothing: list keys are scalars, so those never match.
 */
export function keyText(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : undefined;
}

/** True when an object has no keys or an array no items. */
export function isEmptyContainer(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (isJsonObject(value)) {
    for (const _ in value) return false;
    return true;
  }
  return false;
}

/** Structural equality of two JSON values (object key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    for (const key of keys) {
      if (!Object.hasOwn(b, key) || !jsonEqual(a[key], b[key])) return false;
    }
    return true;
  }
  return false;
}
