import { FlotillaError } from './errors.ts';

/**
 * Serializes a JSON value per RFC 8785 (JSON Canonicalization Scheme): object keys sorted by
 * UTF-16 code units, no white space, numbers in ECMAScript shortest form, strings escaped as
 * JSON.stringify does. Two parties that agree on a value agree on its bytes, so digests and
 * signatures over it are stable.
 *
 * @example canonicalize({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}'
 */
export function canonicalize(value: unknown): string {
  return write(value, []);
}

/**
 * The steps from the root to the value being written: keys and array indexes. Kept as a stack
 * and spelled out (`$.a[0]`) only for an error, since every signature and digest of the hub
 * canonicalizes and building each node's path as text cost more than writing the node.
 */
type Path = (string | number)[];

function spell(path: Path): string {
  let text = '$';
  for (const step of path) text += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return text;
}

function write(value: unknown, path: Path): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) {
        throw new FlotillaError(
          'CANONICAL_JSON_UNSUPPORTED',
          `${spell(path)} is ${value}, which JSON cannot represent; use a finite number or a string`,
        );
      }
      // ECMAScript's Number-to-String is exactly the serialization RFC 8785 prescribes.
      return Object.is(value, -0) ? '0' : String(value);
    case 'string':
      assertWellFormed(value, path);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let text = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) text += ',';
          path.push(i);
          text += write(value[i], path);
          path.pop();
        }
        return `${text}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      let text = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i > 0) text += ',';
        assertWellFormed(key, path);
        path.push(key);
        text += `${JSON.stringify(key)}:${write(record[key], path)}`;
        path.pop();
      }
      return `${text}}`;
    }
    default:
      throw new FlotillaError(
        'CANONICAL_JSON_UNSUPPORTED',
        `${spell(path)} is a ${typeof value}, which is not JSON; remove it or convert it to a string`,
      );
  }
}

function assertWellFormed(text: string, path: Path): void {
  if (!text.isWellFormed()) {
    throw new FlotillaError(
      'CANONICAL_JSON_UNSUPPORTED',
      `${spell(path)} contains a lone UTF-16 surrogate, which RFC 8785 forbids`,
    );
  }
}
