import {
  allOf,
  EMPTY_QUERY,
  type QueryBound,
  type QueryCompareOp,
  type QueryField,
  type QueryPattern,
  type Query,
} from './ast.ts';
import { compareProblem, matchProblem } from './field-types.ts';
import { rememberFieldPosition } from './field-positions.ts';
import { hasWildcard, unescapeGlob } from './glob.ts';
import { KEYWORDS, tokenize, wordKeyword, wordPattern, wordText, type Token, type WordPart } from './lexer.ts';
import { fieldFromWord, isFieldProblem } from './parse-field.ts';
import { queryError } from './query-error.ts';
import { QUERY_LIMITS } from './query-limits.ts';
import { isBoundProblem, readBound } from './read-bound.ts';

/**
 * Parses a one-line fleet query into a {@link Query}.
 *
 * `,` and `and` mean AND, `or` means OR, `not` or `!` negates, parentheses group. A comma
 * binds loosest, so each comma-separated clause is one filter:
 * `region in (eu-*), owner=atlas or owner=zeus` is `region in (eu-*) AND (owner=atlas OR owner=zeus)`.
 * The empty query matches every target. See docs/query-language.md for the whole language.
 *
 * @example parseQuery('region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d')
 * @throws FlotillaError `QUERY_SYNTAX`, `QUERY_UNKNOWN_FIELD` or `QUERY_TYPE`, with
 *   `details: { column, query, caret }`.
 */
export function parseQuery(query: string): Query {
  return new QueryParser(query).parse();
}

const COMPARE_OPS: ReadonlySet<string> = new Set(['<', '<=', '>', '>=']);

class QueryParser {
  private readonly query: string;
  private readonly tokens: Token[];
  private position = 0;
  private depth = 0;
  private conditions = 0;

  constructor(query: string) {
    this.query = query;
    if (query.length > QUERY_LIMITS.maxLength) {
      throw queryError(
        'QUERY_SYNTAX',
        `a query is at most ${QUERY_LIMITS.maxLength} characters long; this one is ${query.length}`,
        { query, index: QUERY_LIMITS.maxLength },
      );
    }
    this.tokens = tokenize(query);
  }

  /** Runs `parse` one level deeper, refusing nesting beyond the limit before the stack does. */
  private nested<T>(at: Token, parse: () => T): T {
    this.depth += 1;
    if (this.depth > QUERY_LIMITS.maxDepth) {
      throw this.error(`a query nests at most ${QUERY_LIMITS.maxDepth} levels of parentheses and negations`, at);
    }
    const result = parse();
    this.depth -= 1;
    return result;
  }

  parse(): Query {
    if (this.peek().kind === 'end') {
      return EMPTY_QUERY;
    }
    const result = this.clauses();
    const next = this.peek();
    if (next.kind !== 'end') {
      throw this.error(
        next.kind === ')'
          ? "this ')' has no matching '('"
          : `expected ',', 'and', 'or' or the end of the query, found ${describe(next)}`,
        next,
      );
    }
    return result;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.position + offset, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const token = this.peek();
    this.position = Math.min(this.position + 1, this.tokens.length - 1);
    return token;
  }

  private error(
    message: string,
    token: Token,
    code: 'QUERY_SYNTAX' | 'QUERY_TYPE' | 'QUERY_UNKNOWN_FIELD' = 'QUERY_SYNTAX',
    extra: Record<string, unknown> = {},
  ): Error {
    return queryError(code, message, { query: this.query, index: token.index }, extra);
  }

  private isKeyword(token: Token, keyword: string): boolean {
    return wordKeyword(token) === keyword;
  }

  /** clauses := or ( ',' or )* */
  private clauses(): Query {
    const items = [this.disjunction()];
    while (this.peek().kind === ',') {
      this.next();
      items.push(this.disjunction());
    }
    return allOf(items);
  }

  /** or := and ( 'or' and )* */
  private disjunction(): Query {
    const items = [this.conjunction()];
    while (this.isKeyword(this.peek(), 'or')) {
      this.next();
      items.push(this.conjunction());
    }
    return items.length === 1 ? (items[0] as Query) : { kind: 'or', items };
  }

  /** and := unary ( 'and' unary )* */
  private conjunction(): Query {
    const items = [this.unary()];
    while (this.isKeyword(this.peek(), 'and')) {
      this.next();
      items.push(this.unary());
    }
    return allOf(items);
  }

  /** unary := ( 'not' | '!' ) unary | primary */
  private unary(): Query {
    const token = this.peek();
    if (this.isKeyword(token, 'not') || (token.kind === 'op' && token.op === '!')) {
      this.next();
      return { kind: 'not', item: this.nested(token, () => this.unary()) };
    }
    return this.primary();
  }

  /** primary := '(' clauses ')' | condition */
  private primary(): Query {
    const token = this.next();
    if (token.kind === '(') {
      if (this.peek().kind === ')') {
        throw this.error("expected a condition inside '( )'", this.peek());
      }
      const inner = this.nested(token, () => this.clauses());
      const close = this.next();
      if (close.kind !== ')') {
        throw this.error(
          `expected ')' to close the '(' at column ${this.column(token)}, found ${describe(close)}`,
          close,
        );
      }
      return inner;
    }
    if (token.kind !== 'word') {
      throw this.error(
        `expected a condition (a field such as region or labels.tier, 'not' or '('), found ${describe(token)}`,
        token,
      );
    }
    const keyword = wordKeyword(token);
    if (keyword !== undefined && KEYWORDS.has(keyword)) {
      throw this.error(
        `expected a condition, found the keyword '${keyword}' (write "${keyword}" in double quotes to use it as a field)`,
        token,
      );
    }
    return this.condition(this.field(token), token);
  }

  private column(token: Token): number {
    return Array.from(this.query.slice(0, token.index)).length + 1;
  }

  private field(token: Token & { kind: 'word' }): QueryField {
    const field = fieldFromWord(token.parts);
    if (isFieldProblem(field)) {
      throw this.error(
        field.message,
        token,
        field.code,
        field.suggestion === undefined ? {} : { suggestion: field.suggestion },
      );
    }
    this.refuseColonAfterField(field, token);
    rememberFieldPosition(field, token.index);
    return field;
  }

  /**
   * `kubernetes_version: >=1.28` is selector YAML written as a query. Labels, properties,
   * bare keys and release names never hold a colon, so an unquoted one in such a field is
   * that mistake: the error shows the condition as the query language spells it. Fact paths
   * may hold colons, and a quoted key is taken as written.
   */
  private refuseColonAfterField(field: QueryField, token: Token & { kind: 'word' }): void {
    if (field.kind === 'builtin' || field.kind === 'facts') {
      return;
    }
    const colonPart = token.parts.findIndex((part) => !part.quoted && part.text.includes(':'));
    if (colonPart < 0 || (field.kind === 'key' && (token.parts[0] as WordPart).quoted)) {
      return;
    }
    const raw = this.rawText(token);
    const colon = raw.indexOf(
      ':',
      token.parts.slice(0, colonPart).reduce((length, part) => length + part.text.length + (part.quoted ? 2 : 0), 0),
    );
    const name = raw.slice(0, colon);
    const rest = raw.slice(colon + 1);
    const suggestion = rest !== '' ? `${name}=${rest}` : `${name}${this.conditionTail(this.position)}`;
    throw this.error(
      `a field is followed by an operator, not ':' as in selector YAML; did you mean '${suggestion}'?`,
      token,
      'QUERY_SYNTAX',
      { suggestion },
    );
  }

  /** How the condition after a field would read without a colon: the operator and value, or a list. */
  private conditionTail(at: number): string {
    const next = this.tokens[at] as Token;
    const after = this.tokens[at + 1];
    if (next.kind === 'op' && next.op !== '!' && after?.kind === 'word') {
      return `${next.op}${this.rawText(after)}`;
    }
    if (
      next.kind === 'word' &&
      (wordKeyword(next) === 'in' || wordKeyword(next) === 'notin' || wordKeyword(next) === 'not')
    ) {
      const close = this.tokens.findIndex((token, index) => index > at && token.kind === ')');
      return ` ${this.query.slice(next.index, close < 0 ? undefined : (this.tokens[close] as Token).index + 1).trim()}`;
    }
    if (next.kind === 'word') {
      return `=${this.rawText(next)}`;
    }
    return '';
  }

  /** A word as written in the query, quotes and escapes included. */
  private rawText(token: Token): string {
    const index = this.tokens.indexOf(token);
    return this.query.slice(token.index, (this.tokens[index + 1] as Token).index).trimEnd();
  }

  /** condition := field [ ('=' | '==' | '!=') value | ('in' | 'notin' | 'not' 'in') list | cmp bound ] */
  private condition(field: QueryField, at: Token): Query {
    this.conditions += 1;
    if (this.conditions > QUERY_LIMITS.maxConditions) {
      throw this.error(`a query holds at most ${QUERY_LIMITS.maxConditions} conditions`, at);
    }
    const token = this.peek();
    if (token.kind === 'op' && (token.op === '=' || token.op === '==' || token.op === '!=')) {
      this.next();
      const condition = this.match(field, [this.value(token.op)], token);
      return token.op === '!=' ? { kind: 'not', item: condition } : condition;
    }
    if (token.kind === 'op' && COMPARE_OPS.has(token.op)) {
      this.next();
      return this.compare(field, token.op as QueryCompareOp, token);
    }
    if (
      this.isKeyword(token, 'in') ||
      this.isKeyword(token, 'notin') ||
      (this.isKeyword(token, 'not') && this.isKeyword(this.peek(1), 'in'))
    ) {
      const negated = !this.isKeyword(token, 'in');
      this.next();
      if (this.isKeyword(token, 'not')) {
        this.next();
      }
      const condition = this.match(field, this.list(), token);
      return negated ? { kind: 'not', item: condition } : condition;
    }
    if (token.kind === 'op' && token.op === '!') {
      throw this.error(
        "expected an operator; '!' negates the condition that follows it (write !field or field!=value)",
        token,
      );
    }
    return { kind: 'exists', field };
  }

  private match(field: QueryField, values: QueryPattern[], at: Token): Query {
    const problem = matchProblem(field, values);
    if (problem !== undefined) {
      throw this.error(problem, at, 'QUERY_TYPE');
    }
    return { kind: 'in', field, values };
  }

  private value(after: string): QueryPattern {
    const token = this.next();
    if (token.kind !== 'word') {
      throw this.error(
        `expected a value after '${after}', found ${describe(token)} (an empty value is written "")`,
        token,
      );
    }
    const pattern = wordPattern(token.parts);
    return hasWildcard(pattern) ? { kind: 'glob', pattern } : { kind: 'text', text: unescapeGlob(pattern) };
  }

  /** list := '(' value ( ',' value )* ')' */
  private list(): QueryPattern[] {
    const open = this.next();
    if (open.kind !== '(') {
      throw this.error(
        `expected '(' and a list of values, as in region in (eu-west, eu-north), found ${describe(open)}`,
        open,
      );
    }
    const values = [this.value(open.kind)];
    for (;;) {
      const token = this.next();
      if (token.kind === ')') {
        return values;
      }
      if (token.kind !== ',') {
        throw this.error(`expected ',' or ')' in the list of values, found ${describe(token)}`, token);
      }
      if (values.length === QUERY_LIMITS.maxValues) {
        throw this.error(`a list holds at most ${QUERY_LIMITS.maxValues} values`, this.peek());
      }
      values.push(this.value(','));
    }
  }

  private compare(field: QueryField, op: QueryCompareOp, at: Token): Query {
    const token = this.next();
    if (token.kind !== 'word') {
      throw this.error(`expected a number, version or time after '${op}', found ${describe(token)}`, token);
    }
    const pattern = wordPattern(token.parts);
    if (hasWildcard(pattern)) {
      throw this.error(`wildcards do not work with ${op}; use = or in for globs`, token, 'QUERY_TYPE');
    }
    const text = wordText(token.parts);
    const bound = this.bound(text, token);
    const problem = compareProblem(field, op, bound);
    if (problem !== undefined) {
      throw this.error(problem, bound.kind === 'scalar' || bound.time.kind === 'relative' ? token : at, 'QUERY_TYPE');
    }
    return { kind: 'compare', field, op, bound };
  }

  private bound(text: string, token: Token): QueryBound {
    const bound = readBound(text);
    if (isBoundProblem(bound)) {
      throw this.error(bound.message, token, bound.code);
    }
    return bound;
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the query';
    case 'word':
      return `'${wordText(token.parts)}'`;
    case 'op':
      return `'${token.op}'`;
    default:
      return `'${token.kind}'`;
  }
}
