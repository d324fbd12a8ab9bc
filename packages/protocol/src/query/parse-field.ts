import {
  QUERY_BUILTIN_FIELDS,
  QUERY_FIELD_PREFIXES,
  type QueryBuiltinField,
  type QueryField,
  type QueryFieldPrefix,
} from './ast.ts';
import { tokenize, wordText, type WordPart } from './lexer.ts';
import { queryError } from './query-error.ts';
import { closest } from './suggest.ts';

/** Why a word is not a field, ready to become an error at the word's position. */
export interface FieldProblem {
  readonly code: 'QUERY_SYNTAX' | 'QUERY_UNKNOWN_FIELD';
  readonly message: string;
  readonly suggestion?: string;
}

const BUILTINS: ReadonlySet<string> = new Set(QUERY_BUILTIN_FIELDS);
const PREFIXES: ReadonlySet<string> = new Set(QUERY_FIELD_PREFIXES);

/**
 * Reads a field from a word of the query language.
 *
 * - A word that starts with a double quote is a bare key, spelled exactly: `"app.kubernetes.io/name"`.
 * - A word whose first dot follows a prefix is a keyed field; the rest of the word, quoted
 *   parts included, is the key: `labels.app.kubernetes.io/name`, `labels."a b"`,
 *   `facts.capabilities.nvidia.com/gpu`.
 * - A word without a dot is a builtin (`status`, `lastSeen`, …) or else a bare key.
 * - A dotted word with any other first segment is an unknown field, never a silent miss.
 */
export function fieldFromWord(parts: readonly WordPart[]): QueryField | FieldProblem {
  const first = parts[0] as WordPart;
  const text = wordText(parts);
  if (text === '') {
    return { code: 'QUERY_SYNTAX', message: 'a field name cannot be empty' };
  }
  if (first.quoted) {
    return { kind: 'key', key: text };
  }
  if (parts.some((part) => !part.quoted && /[*?]/.test(part.text))) {
    return {
      code: 'QUERY_SYNTAX',
      message: `a field name cannot hold the wildcards * or ?; got '${text}' (put a key that contains them in double quotes)`,
    };
  }
  const dot = first.text.indexOf('.');
  if (dot < 0) {
    if (parts.length === 1 && BUILTINS.has(text)) {
      return { kind: 'builtin', name: text as QueryBuiltinField };
    }
    if (parts.length === 1 && PREFIXES.has(text)) {
      return { code: 'QUERY_UNKNOWN_FIELD', message: `'${text}' needs a key: write ${text}.<key>` };
    }
    return { kind: 'key', key: text };
  }
  const head = first.text.slice(0, dot);
  const key = text.slice(dot + 1);
  if (PREFIXES.has(head)) {
    if (key === '') {
      return { code: 'QUERY_UNKNOWN_FIELD', message: `'${head}.' needs a key after the dot` };
    }
    return { kind: head as QueryFieldPrefix, key };
  }
  const prefix = closest(head, QUERY_FIELD_PREFIXES);
  const suggestion = prefix === undefined ? undefined : `${prefix}.${key}`;
  return {
    code: 'QUERY_UNKNOWN_FIELD',
    message: `unknown field '${text}'${suggestion === undefined ? '' : `; did you mean '${suggestion}'?`} (a dotted field starts with labels., properties., facts., running. or desired.; write a bare key that contains dots in double quotes)`,
    ...(suggestion === undefined ? {} : { suggestion }),
  };
}

/** Whether a value returned by {@link fieldFromWord} is a problem rather than a field. */
export function isFieldProblem(value: QueryField | FieldProblem): value is FieldProblem {
  return 'code' in value;
}

/**
 * Reads a field written on its own, as in the keys of a selector object (`region`,
 * `labels.tier`, `running.app`, `"app.kubernetes.io/name"`).
 *
 * @throws FlotillaError `QUERY_UNKNOWN_FIELD` or `QUERY_SYNTAX`, with a caret.
 */
export function parseQueryField(spelling: string): QueryField {
  const tokens = tokenize(spelling);
  const token = tokens[0];
  if (token === undefined || token.kind !== 'word' || tokens.length !== 2) {
    throw queryError('QUERY_SYNTAX', `expected one field name, got '${spelling}'`, {
      query: spelling,
      index: token?.kind === 'word' ? (tokens[1]?.index ?? 0) : 0,
    });
  }
  const field = fieldFromWord(token.parts);
  if (isFieldProblem(field)) {
    throw queryError(
      field.code,
      field.message,
      { query: spelling, index: 0 },
      field.suggestion === undefined ? {} : { suggestion: field.suggestion },
    );
  }
  return field;
}
