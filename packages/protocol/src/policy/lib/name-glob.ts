import { globMatcher, NAME_GLOB } from '../../lib/glob.ts';

/**
 * Name globs as the drift policy writes them (`*` any run, `?` one character, no escapes), so
 * that `allowedRegistries` and the other globs of a policy read exactly as they do in
 * docs/drift.md.
 */
export type NameGlob = (text: string) => boolean;

export function compileGlobs(patterns: readonly string[]): NameGlob[] {
  return patterns.map((pattern) => globMatcher(pattern, NAME_GLOB));
}

export function matchesSomeGlob(globs: readonly NameGlob[], text: string): boolean {
  return globs.some((glob) => glob(text));
}
