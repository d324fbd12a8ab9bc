import { globMatcher, NAME_GLOB } from '../../lib/glob.ts';

/**
 * The globs of drift rules, compiled once into matchers. Two dialects: a *name* glob
 * (managers, kinds, resource keys, registries), read with the glob core, where `*` is any run
 * of characters and `?` one character; and a *path* glob over drift field paths, where `*`
 * stays inside one path segment, `[*]` is any one list selector and `**` crosses segments.
 */
export type GlobMatch = (text: string) => boolean;

/** `kubectl-*` matches `kubectl-edit`; `*` alone matches anything, including the empty name. */
export function compileNameGlob(pattern: string): GlobMatch {
  return globMatcher(pattern, NAME_GLOB);
}

const SPECIAL = /[\\^$.|+()[\]{}]/g;

function escapeChar(char: string): string {
  return char.replace(SPECIAL, '\\$&');
}

// One bracketed selector of a field path: `[3]`, `[name=app]`, `["app.kubernetes.io/name"]`,
// with quoted parts allowed to contain `]`.
const BRACKET = String.raw`\[(?:"(?:[^"\\]|\\.)*"|[^\]"])*\]`;

/**
 * `spec.template.spec.containers[*].image` matches the image of any container;
 * `metadata.labels.*` matches plain label keys and `metadata.labels[*]` any key at all
 * (keys with dots or slashes are written in brackets); `**.securityContext.**` matches
 * anything under any securityContext.
 */
export function compilePathGlob(pattern: string): GlobMatch {
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '[' && pattern[i + 1] === '*' && pattern[i + 2] === ']') {
      source += BRACKET;
      i += 2;
    } else if (char === '*') {
      source += '[^.\\[\\]]*';
    } else if (char === '?') {
      source += '[^.\\[\\]]';
    } else {
      source += escapeChar(char);
    }
  }
  const expression = new RegExp(`${source}$`, 's');
  return (text) => expression.test(text);
}

/** True when any of the compiled globs matches the text. */
export function matchesAny(globs: readonly GlobMatch[], text: string): boolean {
  for (const glob of globs) if (glob(text)) return true;
  return false;
}
