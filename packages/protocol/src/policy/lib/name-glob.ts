import { compileNameGlob } from '../../drift/lib/glob.ts';

/**
 * Name globs as the drift policy writes them (`*` any run, `?` one character, no escapes), so
 * that `allowedRegistries` and the other globs of a policy read exactly as they do in
 * docs/drift.md.
 */
export type NameGlob = RegExp;

export function compileGlobs(patterns: readonly string[]): NameGlob[] {
  return patterns.map(compileNameGlob);
}

export function matchesSomeGlob(globs: readonly NameGlob[], text: string): boolean {
  return globs.some((glob) => glob.test(text));
}
