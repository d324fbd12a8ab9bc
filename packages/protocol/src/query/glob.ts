/**
 * Globs of the query language: `*` matches any run of characters (including none), `?`
 * exactly one character, and a backslash makes the next `*`, `?` or `\` literal. Matching is
 * case-sensitive and works on Unicode code points, which is what SQLite's GLOB does; `[` has
 * no special meaning here, so it is escaped on the way to SQLite.
 */

/** One step of a glob: a literal character, `?` (one character) or `*` (any run). */
type GlobStep = { readonly literal: string } | '?' | '*';

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

function globSteps(pattern: string): GlobStep[] {
  const steps: GlobStep[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i += 1) {
    const char = chars[i] as string;
    if (char === '\\') {
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

/** The text a pattern stands for when it has no wildcards: escapes removed. */
export function unescapeGlob(pattern: string): string {
  return globSteps(pattern).map((step) => (typeof step === 'string' ? step : step.literal)).join('');
}

/** Escapes `\`, `*` and `?` so that the text matches only itself as a pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[\\*?]/g, (char) => `\\${char}`);
}

/** The pattern in SQLite GLOB syntax: literal `*`, `?` and `[` become one-character classes. */
export function toSqliteGlob(pattern: string): string {
  return globSteps(pattern)
    .map((step) => {
      if (typeof step === 'string') {
        return step;
      }
      return step.literal === '*' || step.literal === '?' || step.literal === '[' ? `[${step.literal}]` : step.literal;
    })
    .join('');
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

/**
 * A matcher for the pattern. It runs in O(pattern × text) with the classic single-backtrack
 * wildcard algorithm, so a hostile pattern such as `*a*a*a*b` cannot blow up as a regular
 * expression would.
 */
export function globMatcher(pattern: string): (text: string) => boolean {
  const steps = globSteps(pattern);
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
