import {
  parseQueryField,
  QUERY_BUILTIN_FIELDS,
  QUERY_FIELD_PREFIXES,
  storedFieldName,
  type QueryField,
} from '@flotilla/protocol/query';
import type { TargetBrowseStore } from './target-browse-store.ts';

/** One suggestion: `insert` replaces the text from `from` to `to` of the query. */
export interface CompletionItem {
  readonly insert: string;
  /** What the list shows: the field or value, without quoting. */
  readonly label: string;
  /** How many targets hold a value, when known. */
  readonly count?: number;
}

export interface Completion {
  readonly kind: 'field' | 'value';
  /** The field whose values are offered. */
  readonly field?: string;
  readonly from: number;
  readonly to: number;
  readonly items: CompletionItem[];
}

const LIMIT = 20;
/** A character that may appear in an unquoted word (docs/query-language.md, "Words and quoting"). */
const WORD_CHAR = /[\p{L}\p{N}_\-./:+*?@%"]/u;
const BARE_VALUE = /^[\p{L}\p{N}_\-./:+@%]+$/u;
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'notin']);
const ENUMS: Readonly<Record<string, readonly string[]>> = {
  status: ['active', 'disabled', 'revoked'],
  health: ['healthy', 'progressing', 'degraded', 'missing', 'unknown'],
  phase: ['applied', 'failed', 'stalled', 'idle'],
  drift: ['dangerous', 'suspicious', 'transient', 'acceptable'],
};
const TIMES = ['now-5m', 'now-1h', 'now-24h', 'now-7d', 'now-30d'];
const TIME_FIELDS = new Set(['lastSeen', 'lastChanged', 'enrolled']);
const OPERATOR_BEFORE = /(\S+?)\s*(==|!=|<=|>=|=|<|>)\s*$/;
const IN_LIST_BEFORE = /(\S+)\s+(?:not\s+in|notin|in)\s*\(([^()]*)$/i;

/** A value as the query language reads it: quoted when it holds anything a bare word cannot. */
export function quoteValue(value: string): string {
  if (BARE_VALUE.test(value) && !KEYWORDS.has(value.toLowerCase())) return value;
  return `"${value.replace(/(["\\*?])/g, '\\$1')}"`;
}

/** How a stored field name (`key.region`, `labels.tier`, `health`) is written in a query. */
export function querySpelling(stored: string): string {
  return stored.startsWith('key.') ? stored.slice(4) : stored;
}

function tryField(word: string): QueryField | undefined {
  try {
    return parseQueryField(word);
  } catch {
    return undefined;
  }
}

/**
 * Completion for the fleet query bar: at the cursor, either field names (builtins, prefixes,
 * and every field some target has) or the values of the field the cursor's condition names,
 * most common first.
 */
export class QueryCompletion {
  private readonly browse: TargetBrowseStore;
  private readonly fieldNames: () => ReadonlySet<string>;

  constructor(deps: { browse: TargetBrowseStore; fieldNames: () => ReadonlySet<string> }) {
    this.browse = deps.browse;
    this.fieldNames = deps.fieldNames;
  }

  /**
   * What to offer at `at` in `text`. Given `among` (a scoped token's targets), values and
   * their counts come from those targets only, so completion reveals nothing beyond the scope.
   */
  complete(text: string, at: number, among?: readonly string[]): Completion {
    const cursor = Math.max(0, Math.min(at, text.length));
    let from = cursor;
    while (from > 0 && WORD_CHAR.test(text[from - 1]!)) from--;
    let to = cursor;
    while (to < text.length && WORD_CHAR.test(text[to]!)) to++;
    const prefix = text.slice(from, cursor).replace(/^"/, '');
    const before = text.slice(0, from);
    const operator = OPERATOR_BEFORE.exec(before);
    const list = operator === null ? IN_LIST_BEFORE.exec(before) : null;
    const fieldWord = operator?.[1] ?? list?.[1];
    if (fieldWord !== undefined) {
      const field = tryField(fieldWord);
      return {
        kind: 'value',
        field: fieldWord,
        from,
        to,
        items: field === undefined ? [] : this.values(field, prefix, among),
      };
    }
    return { kind: 'field', from, to, items: this.fields(prefix) };
  }

  private fields(prefix: string): CompletionItem[] {
    const lower = prefix.toLowerCase();
    const names = new Set<string>([...QUERY_BUILTIN_FIELDS, ...QUERY_FIELD_PREFIXES.map((p) => `${p}.`)]);
    for (const stored of this.fieldNames()) names.add(querySpelling(stored));
    return [...names]
      .filter((name) => name.toLowerCase().startsWith(lower))
      .sort((a, b) => Number(a.includes('.')) - Number(b.includes('.')) || a.localeCompare(b))
      .slice(0, LIMIT)
      .map((name) => ({ insert: name, label: name }));
  }

  private values(field: QueryField, prefix: string, among: readonly string[] | undefined): CompletionItem[] {
    if (field.kind === 'builtin') {
      const fixed = ENUMS[field.name] ?? (TIME_FIELDS.has(field.name) ? TIMES : undefined);
      if (fixed !== undefined) return fixed.filter((v) => v.startsWith(prefix)).map((v) => ({ insert: v, label: v }));
      if (field.name === 'name')
        return this.browse.names(prefix, LIMIT, among).map((v) => ({ insert: quoteValue(v), label: v }));
    }
    const stored = storedFieldName(field);
    if (stored === undefined) return [];
    return this.browse
      .values(stored, prefix, LIMIT, among)
      .map((r) => ({ insert: quoteValue(r.value), label: r.value, count: r.n }));
  }
}
