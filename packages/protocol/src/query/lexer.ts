import { queryError } from './query-error.ts';

/**
 * Characters that end a bare word. Some are operators today; the others (`[`, `{`, `~`, `|`,
 * `&`, …) are reserved so that the language can grow without breaking queries people have
 * already saved. A value holding one of them is written in double quotes.
 */
const RESERVED = new Set(Array.from('"\',()=!<>\\[]{}~|&;#$^`'));

/** Whether `char` (one code point) may appear in an unquoted word. */
export function isWordChar(char: string): boolean {
  return !RESERVED.has(char) && !/[\s\p{Cc}]/u.test(char);
}

/**
 * Part of a word: unquoted text, or the source between double quotes with its escapes
 * (`\"`, `\\`, `\*`, `\?`) still in place. Adjacent parts form one word, so
 * `labels."app.kubernetes.io/name"` is a single token.
 */
export interface WordPart {
  readonly text: string;
  readonly quoted: boolean;
}

export type Operator = '=' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '!';

export type Token =
  | { readonly kind: 'word'; readonly parts: readonly WordPart[]; readonly index: number }
  | { readonly kind: 'op'; readonly op: Operator; readonly index: number }
  | { readonly kind: ',' | '(' | ')' | 'end'; readonly index: number };

/**
 * Splits a query into tokens. Throws `QUERY_SYNTAX` with a caret for an unterminated or
 * single-quoted string, an unknown escape, or a reserved character.
 */
export function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const char = String.fromCodePoint(query.codePointAt(i) as number);
    if (/\s/u.test(char)) {
      i += char.length;
    } else if (char === ',' || char === '(' || char === ')') {
      tokens.push({ kind: char, index: i });
      i += 1;
    } else if (char === '=' || char === '!' || char === '<' || char === '>') {
      const two = query.slice(i, i + 2);
      const op: Operator = two === '==' || two === '!=' || two === '<=' || two === '>=' ? two : char;
      tokens.push({ kind: 'op', op, index: i });
      i += op.length;
    } else if (char === '"' || isWordChar(char)) {
      const start = i;
      const parts: WordPart[] = [];
      while (i < query.length) {
        const next = String.fromCodePoint(query.codePointAt(i) as number);
        if (next === '"') {
          const end = quotedEnd(query, i);
          parts.push({ text: query.slice(i + 1, end), quoted: true });
          i = end + 1;
        } else if (isWordChar(next)) {
          let end = i;
          while (end < query.length) {
            const c = String.fromCodePoint(query.codePointAt(end) as number);
            if (!isWordChar(c)) {
              break;
            }
            end += c.length;
          }
          parts.push({ text: query.slice(i, end), quoted: false });
          i = end;
        } else {
          break;
        }
      }
      tokens.push({ kind: 'word', parts, index: start });
    } else if (char === "'") {
      throw queryError('QUERY_SYNTAX', 'single quotes do not quote in a query; use double quotes', { query, index: i });
    } else {
      throw queryError('QUERY_SYNTAX', `unexpected character '${char}'; put values that contain it in double quotes`, {
        query,
        index: i,
      });
    }
  }
  tokens.push({ kind: 'end', index: query.length });
  return tokens;
}

/** Index of the quote closing the string opened at `open`; validates its escapes. */
function quotedEnd(query: string, open: number): number {
  let i = open + 1;
  while (i < query.length) {
    const char = query[i];
    if (char === '"') {
      return i;
    }
    if (char === '\\') {
      const escaped = query[i + 1];
      if (escaped === undefined || !'"\\*?'.includes(escaped)) {
        throw queryError('QUERY_SYNTAX', 'inside double quotes a backslash escapes only ", \\, * and ?', {
          query,
          index: i,
        });
      }
      i += 2;
    } else {
      i += 1;
    }
  }
  throw queryError('QUERY_SYNTAX', 'this double-quoted string is not closed', { query, index: open });
}

/** The word as a glob pattern: quoted parts keep `\*`, `\?`, `\\`; `\"` becomes `"`. */
export function wordPattern(parts: readonly WordPart[]): string {
  return parts
    .map((part) =>
      part.quoted ? part.text.replace(/\\(.)/gsu, (_, char: string) => (char === '"' ? char : `\\${char}`)) : part.text,
    )
    .join('');
}

/** The word as plain text, every escape removed. */
export function wordText(parts: readonly WordPart[]): string {
  return parts.map((part) => (part.quoted ? part.text.replace(/\\(.)/gsu, '$1') : part.text)).join('');
}

/** The keyword a word spells (lower case), if it is a single unquoted part. */
export function wordKeyword(token: Token): string | undefined {
  if (token.kind !== 'word' || token.parts.length !== 1 || (token.parts[0] as WordPart).quoted) {
    return undefined;
  }
  return (token.parts[0] as WordPart).text.toLowerCase();
}

/** Words with a meaning of their own; as a field or value they must be quoted. */
export const KEYWORDS: ReadonlySet<string> = new Set(['and', 'or', 'not', 'in', 'notin']);
