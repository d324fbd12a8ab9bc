import { globSteps } from '../lib/glob.ts';

/*
 * What the query language adds to the glob core (`lib/glob.ts`): its patterns have backslash
 * escapes, which parsing removes from plain text and formatting puts back. Matching is on
 * Unicode code points, which is what SQLite's GLOB does; `[` has no special meaning here.
 */

/** Whether the pattern holds a wildcard, i.e. whether it is a glob rather than plain text. */
export function hasWildcard(pattern: string): boolean {
  return globSteps(pattern).some((step) => typeof step === 'string');
}

/**
 * Whether a pattern is well formed: every backslash escapes `*`, `?` or `\`.
 */
export function isValidGlob(pattern: string): boolean {
  return /^(?:[^\\]|\\[*?\\])*$/su.test(pattern);
}

/** The text a pattern stands for when it has no wildcards: escapes removed. */
export function unescapeGlob(pattern: string): string {
  return globSteps(pattern)
    .map((step) => (typeof step === 'string' ? step : step.literal))
    .join('');
}

/** Escapes `\`, `*` and `?` so that the text matches only itself as a pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[\\*?]/g, (char) => `\\${char}`);
}

/**
 * The literal text every match starts with (up to the first wildcard). SQL uses it as an
 * index range in front of GLOB; it never changes which values match.
 */
export function literalPrefix(pattern: string): string {
  let prefix = '';
  for (const step of globSteps(pattern)) {
    if (typeof step === 'string') {
      break;
    }
    prefix += step.literal;
  }
  return prefix;
}
