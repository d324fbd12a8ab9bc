/**
 * The glob core every Flotilla glob is read with: `*` matches any run of characters
 * (including none) and `?` exactly one character, on Unicode code points, case-sensitively.
 * Where the syntax has escapes (the query language's), a backslash makes the next `*`, `?` or
 * `\` literal; the drift policy's name globs have none, so a backslash there is itself.
 */

/** One step of a glob: a literal character, `?` (one character) or `*` (any run). */
export type GlobStep = { readonly literal: string } | '?' | '*';

/** Which glob syntax a pattern is written in. */
export interface GlobSyntax {
  /** Whether a backslash escapes the next character. */
  readonly escapes: boolean;
}

/** The query language's globs (docs/query-language.md): backslash escapes. */
const QUERY_GLOB: GlobSyntax = Object.freeze({ escapes: true });
/** The drift policy's name globs (docs/drift.md): no escapes. */
export const NAME_GLOB: GlobSyntax = Object.freeze({ escapes: false });

/** The steps of a pattern. */
export function globSteps(pattern: string, syntax: GlobSyntax = QUERY_GLOB): GlobStep[] {
  const steps: GlobStep[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i += 1) {
    const char = chars[i] as string;
    if (char === '\\' && syntax.escapes) {
      i += 1;
      steps.push({ literal: chars[i] ?? '\\' });
    } else if (char === '*' || char === '?') {
      steps.push(char);
    } else {
      steps.push({ literal: char });
    }
  }
  return steps;
}

/**
 * A matcher for the pattern. It runs in O(pattern × text) with the classic single-backtrack
 * wildcard algorithm, so a hostile pattern such as `*a*a*a*b` cannot blow up as a regular
 * expression would.
 */
export function globMatcher(pattern: string, syntax: GlobSyntax = QUERY_GLOB): (text: string) => boolean {
  const steps = globSteps(pattern, syntax);
  if (!steps.includes('?')) {
    return starMatcher(steps);
  }
  return (text) => {
    const chars = Array.from(text);
    let s = 0;
    let c = 0;
    let starStep = -1;
    let starChar = 0;
    while (c < chars.length) {
      const step = steps[s];
      if (step === '*') {
        starStep = s;
        starChar = c;
        s += 1;
      } else if (step !== undefined && (step === '?' || step.literal === chars[c])) {
        s += 1;
        c += 1;
      } else if (starStep >= 0) {
        s = starStep + 1;
        starChar += 1;
        c = starChar;
      } else {
        return false;
      }
    }
    while (steps[s] === '*') {
      s += 1;
    }
    return s === steps.length;
  };
}

/**
 * Patterns without `?` need no per-character walk: the literal runs between stars must
 * appear in order, the first at the start and the last at the end, and taking each run at
 * its leftmost place is never worse. Code units suffice here because every run is whole
 * code points.
 */
function starMatcher(steps: readonly GlobStep[]): (text: string) => boolean {
  const runs: string[] = [''];
  for (const step of steps) {
    if (step === '*') {
      runs.push('');
    } else if (step !== '?') {
      runs[runs.length - 1] += step.literal;
    }
  }
  if (runs.length === 1) {
    const exact = runs[0] as string;
    return (text) => text === exact;
  }
  const first = runs[0] as string;
  const last = runs[runs.length - 1] as string;
  const middle = runs.slice(1, -1).filter((run) => run !== '');
  return (text) => {
    if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) {
      return false;
    }
    let from = first.length;
    const end = text.length - last.length;
    for (const run of middle) {
      const at = text.indexOf(run, from);
      if (at < 0 || at + run.length > end) {
        return false;
      }
      from = at + run.length;
    }
    return true;
  };
}
