import { FlotillaError } from '../errors.ts';

/** One step of a field path: a field or map key, a keyed list item, or a list index. */
export type PathSegment =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'key'; readonly keys: readonly (readonly [field: string, value: string])[] }
  | { readonly kind: 'index'; readonly index: number };

// Field names that print bare; anything else (dots, slashes: label keys, ConfigMap keys) is
// bracketed and JSON-quoted so that a path splits back into the same segments.
const BARE_FIELD = /^[A-Za-z0-9_-]+$/;
const BARE_KEY_VALUE = /^[A-Za-z0-9_./:-]+$/;
const KEY_FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Writes a stable field path: fields joined by dots, keyed list items as `[name=app]`,
 * other list items as `[3]`, and field names with other characters as `["a.b/c"]`.
 *
 * @example
 * formatFieldPath([
 *   { kind: 'field', name: 'spec' },
 *   { kind: 'field', name: 'containers' },
 *   { kind: 'key', keys: [['name', 'app']] },
 *   { kind: 'field', name: 'image' },
 * ]) === 'spec.containers[name=app].image'
 */
export function formatFieldPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    switch (segment.kind) {
      case 'field':
        if (BARE_FIELD.test(segment.name)) out += out === '' ? segment.name : `.${segment.name}`;
        else out += `[${JSON.stringify(segment.name)}]`;
        break;
      case 'key':
        out += `[${segment.keys.map(([field, value]) => `${field}=${BARE_KEY_VALUE.test(value) ? value : JSON.stringify(value)}`).join(',')}]`;
        break;
      case 'index':
        out += `[${segment.index}]`;
        break;
    }
  }
  return out;
}

function invalid(path: string, at: number, expected: string): FlotillaError {
  return new FlotillaError(
    'DRIFT_PATH_INVALID',
    `field path ${JSON.stringify(path.slice(0, 200))} is malformed at character ${at}: expected ${expected}`,
    { at },
  );
}

/** Reads a JSON string literal starting at `start`; returns its value and the index after it. */
function readQuoted(path: string, start: number): [string, number] {
  let i = start + 1;
  while (i < path.length) {
    const char = path[i];
    if (char === '\\') i += 2;
    else if (char === '"') break;
    else i++;
  }
  if (i >= path.length) throw invalid(path, start, 'a closing quote');
  try {
    return [JSON.parse(path.slice(start, i + 1)) as string, i + 1];
  } catch {
    throw invalid(path, start, 'a JSON string');
  }
}

/**
 * Splits a path written by {@link formatFieldPath} back into segments. The empty path is the
 * whole resource. Throws `DRIFT_PATH_INVALID` for anything else.
 */
export function parseFieldPath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  while (i < path.length) {
    const char = path[i];
    if (char === '[') {
      if (path[i + 1] === '"') {
        const [name, next] = readQuoted(path, i + 1);
        if (path[next] !== ']') throw invalid(path, next, '"]"');
        segments.push({ kind: 'field', name });
        i = next + 1;
      } else if (/[0-9]/.test(path[i + 1] ?? '')) {
        const close = path.indexOf(']', i);
        const digits = close === -1 ? '' : path.slice(i + 1, close);
        if (!/^(0|[1-9][0-9]*)$/.test(digits)) throw invalid(path, i + 1, 'a list index');
        segments.push({ kind: 'index', index: Number(digits) });
        i = close + 1;
      } else {
        const keys: [string, string][] = [];
        i++;
        for (;;) {
          const eq = path.indexOf('=', i);
          const field = eq === -1 ? '' : path.slice(i, eq);
          if (!KEY_FIELD.test(field)) throw invalid(path, i, 'a key field name and "="');
          i = eq + 1;
          let value: string;
          if (path[i] === '"') {
            [value, i] = readQuoted(path, i);
          } else {
            const start = i;
            while (i < path.length && path[i] !== ',' && path[i] !== ']') i++;
            value = path.slice(start, i);
            if (!BARE_KEY_VALUE.test(value)) throw invalid(path, start, 'a key value');
          }
          keys.push([field, value]);
          if (path[i] === ',') {
            i++;
            continue;
          }
          if (path[i] !== ']') throw invalid(path, i, '"," or "]"');
          i++;
          break;
        }
        segments.push({ kind: 'key', keys });
      }
    } else {
      if (segments.length > 0) {
        if (char !== '.') throw invalid(path, i, '"." or "["');
        i++;
      }
      const start = i;
      while (i < path.length && path[i] !== '.' && path[i] !== '[') i++;
      const name = path.slice(start, i);
      if (!BARE_FIELD.test(name)) throw invalid(path, start, 'a field name');
      segments.push({ kind: 'field', name });
    }
  }
  return segments;
}
