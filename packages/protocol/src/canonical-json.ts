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
  const parts: string[] = [];
  write(value, parts, '$');
  return parts.join('');
}

function write(value: unknown, out: string[], path: string): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new FlotillaError(
          'CANONICAL_JSON_UNSUPPORTED',
          `${path} is ${value}, which JSON cannot represent; use a finite number or a string`,
        );
      }
      // ECMAScript's Number-to-String is exactly the serialization RFC 8785 prescribes.
      out.push(Object.is(value, -0) ? '0' : String(value));
      return;
    case 'string':
      assertWellFormed(value, path);
      out.push(JSON.stringify(value));
      return;
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[');
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(',');
          write(value[i], out, `${path}[${i}]`);
        }
        out.push(']');
        return;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      out.push('{');
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i > 0) out.push(',');
        assertWellFormed(key, path);
        out.push(JSON.stringify(key), ':');
        write(record[key], out, `${path}.${key}`);
      }
      out.push('}');
      return;
    }
    default:
      throw new FlotillaError(
        'CANONICAL_JSON_UNSUPPORTED',
        `${path} is a ${typeof value}, which is not JSON; remove it or convert it to a string`,
      );
  }
}

function assertWellFormed(text: string, path: string): void {
  if (!text.isWellFormed()) {
    throw new FlotillaError(
      'CANONICAL_JSON_UNSUPPORTED',
      `${path} contains a lone UTF-16 surrogate, which RFC 8785 forbids`,
    );
  }
}
