import { parse as parseYamlText } from 'yaml';
import { FlotillaError, messageOf } from './errors.ts';

/**
 * How deep a document Flotilla reads may nest. Every document is walked recursively somewhere
 * (canonical JSON, diff, attribution), and a walk 20,000 levels deep overflows the stack; real
 * documents stay far below this (a CRD with a deep OpenAPI schema reaches about 60).
 */
export const JSON_MAX_DEPTH = 256;

/** Limits of a bounded parse: nesting depth (default {@link JSON_MAX_DEPTH}) and UTF-8 size. */
export interface JsonLimits {
  readonly maxDepth?: number;
  /** Bytes of UTF-8 text; unbounded when absent (the caller already bounded what it read). */
  readonly maxBytes?: number;
}

function tooDeep(what: string, maxDepth: number): FlotillaError {
  return new FlotillaError('JSON_TOO_DEEP', `${what} nests deeper than ${maxDepth} levels, the limit; flatten it`, {
    maxDepth,
  });
}

function checkSize(text: string, what: string, maxBytes: number | undefined): void {
  if (maxBytes === undefined || text.length * 3 <= maxBytes) return;
  // A UTF-16 unit is at least one UTF-8 byte, so past maxBytes units it is certainly too large.
  const bytes = text.length > maxBytes ? text.length : new TextEncoder().encode(text).length;
  if (bytes > maxBytes)
    throw new FlotillaError('BODY_TOO_LARGE', `${what} exceeds the limit of ${maxBytes} bytes`, { maxBytes });
}

/**
 * Parses JSON text after checking, in one pass over the text and without recursion, that it
 * nests no deeper than the limit (and is not larger than `maxBytes`), so that no recursive walk
 * of the value can overflow the stack. Errors name `what` and the limit: `JSON_TOO_DEEP`,
 * `BODY_TOO_LARGE`, or `BAD_REQUEST` for text that is not JSON.
 *
 * @example parseJson(text, 'the request body') // throws "the request body nests deeper than 256 levels…"
 */
export function parseJson(text: string, what: string, limits: JsonLimits = {}): unknown {
  const maxDepth = limits.maxDepth ?? JSON_MAX_DEPTH;
  checkSize(text, what, limits.maxBytes);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw tooDeep(what, maxDepth);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FlotillaError('BAD_REQUEST', `${what} is not valid JSON: ${messageOf(error)}`);
  }
}

/**
 * Checks without recursion that a value already in memory (parsed from YAML, say) nests no
 * deeper than the limit; throws `JSON_TOO_DEEP` naming `what` otherwise.
 */
export function assertJsonDepth(value: unknown, what: string, maxDepth = JSON_MAX_DEPTH): void {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > maxDepth) throw tooDeep(what, maxDepth);
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
}

/**
 * Parses YAML (a superset of JSON) with the same bounds as {@link parseJson}: flow collections
 * (`[[[…`) are counted before parsing, the value is checked afterwards, and a parser that
 * runs out of stack on block nesting is reported as too deep. `BAD_REQUEST` for text that is
 * not YAML.
 */
export function parseYaml(text: string, what: string, limits: JsonLimits = {}): unknown {
  const maxDepth = limits.maxDepth ?? JSON_MAX_DEPTH;
  checkSize(text, what, limits.maxBytes);
  let depth = 0;
  let quote = 0;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (comment) {
      if (c === 0x0a) comment = false;
    } else if (quote !== 0) {
      if (quote === 0x22 && c === 0x5c) i++;
      else if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) quote = c;
    else if (c === 0x23) comment = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw tooDeep(what, maxDepth);
    } else if ((c === 0x7d || c === 0x5d) && depth > 0) depth--;
  }
  let value: unknown;
  try {
    value = parseYamlText(text) as unknown;
  } catch (error) {
    // Block nesting (indentation, `- - -`) is not counted above: the parser's own recursion
    // is the backstop, and it reports running out of stack as a parse error of its own.
    if (error instanceof RangeError || /Maximum call stack size exceeded/.test(messageOf(error)))
      throw tooDeep(what, maxDepth);
    throw new FlotillaError('BAD_REQUEST', `${what} does not parse: ${messageOf(error)}`);
  }
  assertJsonDepth(value, what, maxDepth);
  return value;
}
