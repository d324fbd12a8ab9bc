import {
  globSteps,
  literalPrefix,
  nowMillis,
  planQuery,
  selectivityRank,
  type Plan,
  type Query,
  type QueryCompareOp,
  type RowTest,
  type TextColumn,
  type TimeColumn,
} from '@flotilla/protocol/query';
import type { Dialect } from '../../store/sql.ts';

/** Options of {@link compileQuerySql}. */
export interface QuerySqlOptions {
  /** The time `now-30d` is relative to. */
  readonly now: Date | number;
  /** Alias of the `targets` table in the surrounding statement; `t` unless given. */
  readonly alias?: string;
  /** Name of the side table of migration 003; `target_fields` unless given. */
  readonly fieldsTable?: string;
  /** The SQL dialect to write (`dialectOf(db)` from store/sql.ts); SQLite unless given. */
  readonly dialect?: Dialect;
}

/** A WHERE fragment and its positional parameters, in order. */
export interface QuerySqlWhere {
  readonly where: string;
  readonly params: unknown[];
}

const TEXT_COLUMNS: Readonly<Record<TextColumn, string>> = { id: 'id', name: 'name', status: 'status' };
const TIME_COLUMNS: Readonly<Record<TimeColumn, string>> = {
  lastSeen: 'last_seen_at',
  lastChanged: 'last_changed_at',
  enrolled: 'enrolled_at',
};
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Compiles a query into a WHERE fragment over the `targets` table (alias `t`) of the hub
 * store, using the indexed side table `target_fields` (migration 003). The fragment is never
 * NULL, so `NOT (...)` around it means exactly "does not match". The dialects differ in globs
 * (SQLite's GLOB, PostgreSQL's LIKE: see {@link toPostgresLike}) and in the shape that suits
 * each planner: SQLite gets fixed joins, PostgreSQL one semi-join per condition, which its
 * statistics order.
 *
 * SQLite's plans do not depend on its statistics: the conditions on stored fields that must all
 * hold become one join in a fixed order (see {@link joinSql}), so a query never turns into a
 * range scan per row when ANALYZE has not run.
 *
 * @example
 * const { where, params } = compileQuerySql(parseQuery('region in (eu-*), owner=atlas'), { now: Date.now() });
 * db.prepare(`SELECT t.id FROM targets t WHERE ${where}`).all(...params);
 * @throws FlotillaError `QUERY_TYPE` for an ill-typed condition in a hand-built tree.
 */
export function compileQuerySql(query: Query, options: QuerySqlOptions): QuerySqlWhere {
  const alias = options.alias ?? 't';
  const table = options.fieldsTable ?? 'target_fields';
  if (!IDENTIFIER.test(alias) || !IDENTIFIER.test(table)) {
    throw new TypeError(
      `alias and fieldsTable must be plain SQL identifiers; got ${JSON.stringify(alias)} and ${JSON.stringify(table)}`,
    );
  }
  const params: unknown[] = [];
  const dialect = options.dialect ?? 'sqlite';
  const where = emit(planQuery(query, nowMillis(options.now)), { alias, table, params, dialect });
  return { where, params };
}

interface Context {
  readonly alias: string;
  readonly table: string;
  readonly params: unknown[];
  readonly dialect: Dialect;
}

type RowsPlan = Plan & { kind: 'rows' };

/** Conditions per join, well under SQLite's limit of 64 tables. */
const MAX_JOIN = 32;

/** The smallest string above every string that starts with `prefix`, when cheap to compute. */
function prefixUpperBound(prefix: string): string | undefined {
  const last = prefix.charCodeAt(prefix.length - 1);
  // Only an ASCII last character can be bumped by one without leaving UTF-8 byte order.
  return prefix === '' || last >= 0x7f ? undefined : `${prefix.slice(0, -1)}${String.fromCharCode(last + 1)}`;
}

function prefixRange(column: string, prefix: string, ctx: Context): string | undefined {
  const upper = prefixUpperBound(prefix);
  if (upper === undefined) {
    return undefined;
  }
  ctx.params.push(prefix, upper);
  return `${column} >= ? AND ${column} < ?`;
}

function globSql(column: string, pattern: string, ctx: Context): string {
  // The range in front of the match lets the database seek the index; the match alone decides.
  const range = prefixRange(column, literalPrefix(pattern), ctx);
  const postgres = ctx.dialect === 'postgres';
  ctx.params.push(postgres ? toPostgresLike(pattern) : toSqliteGlob(pattern));
  const match = postgres ? `${column} LIKE ? ESCAPE '\\'` : `${column} GLOB ?`;
  return range === undefined ? match : `${range} AND ${match}`;
}

function comparison(column: string, op: QueryCompareOp, value: unknown, ctx: Context): string {
  ctx.params.push(value);
  return `${column} ${op} ?`;
}

/**
 * The test as SQL over the columns of `target_fields`. `q` qualifies the columns (`''`,
 * `f0.`, or `+f1.`: a unary plus keeps SQLite from using an index for that term).
 */
function rowTestSql(test: RowTest, q: string, ctx: Context): string | undefined {
  switch (test.kind) {
    case 'any':
      return undefined;
    case 'text':
      ctx.params.push(test.text);
      return `${q}text_value = ?`;
    case 'glob':
      return globSql(`${q}text_value`, test.pattern, ctx);
    case 'version':
      ctx.params.push(test.key);
      return `${q}version_key = ?`;
    case 'version-line':
      return prefixRange(`${q}version_key`, test.prefix, ctx);
    case 'number':
      return comparison(`${q}num_value`, test.op, test.value, ctx);
    case 'version-order':
      return comparison(`${q}version_key`, test.op, test.key, ctx);
    case 'time':
      return comparison(`${q}time_value`, test.op, test.value, ctx);
  }
}

/** One alternative of a condition: SQL (or `undefined` for "any row of the field") and its parameters. */
interface Alternative {
  readonly sql: string | undefined;
  readonly params: unknown[];
}

/**
 * The alternatives of a condition: exact texts together as one `IN (...)`, every other test
 * on its own. Each keeps its own parameters so that callers can place it anywhere.
 */
function alternatives(tests: readonly RowTest[], q: string, ctx: Context): Alternative[] {
  const texts = tests.flatMap((test) => (test.kind === 'text' ? [test.text] : []));
  const result: Alternative[] = [];
  const collect = (write: (local: Context) => string | undefined): void => {
    const local: Context = { ...ctx, params: [] };
    result.push({ sql: write(local), params: local.params });
  };
  if (texts.length === 1) {
    collect((local) => rowTestSql({ kind: 'text', text: texts[0] as string }, q, local));
  } else if (texts.length > 1) {
    result.push({ sql: `${q}text_value IN (${texts.map(() => '?').join(', ')})`, params: texts });
  }
  for (const test of tests) {
    if (test.kind !== 'text') {
      collect((local) => rowTestSql(test, q, local));
    }
  }
  return result;
}

function testsSql(tests: readonly RowTest[], q: string, ctx: Context): string | undefined {
  const parts = alternatives(tests, q, ctx);
  if (parts.some((part) => part.sql === undefined)) {
    return undefined;
  }
  for (const part of parts) {
    ctx.params.push(...part.params);
  }
  return parts.length === 1 ? parts[0]?.sql : `(${parts.map((part) => `(${part.sql as string})`).join(' OR ')})`;
}

/**
 * Conditions on stored fields that must all hold, as one SQLite join over `target_fields` in a
 * fixed order (CROSS JOIN): the likeliest-selective condition drives through its index, and
 * every other one is checked by a seek on the primary key (target_id, field). The unary plus
 * on the other conditions' columns keeps SQLite from probing through an index that does not
 * start with target_id, which would scan a whole range for every candidate.
 */
function joinSql(plans: readonly RowsPlan[], ctx: Context): string {
  const ordered = plans
    .map((plan, index) => ({ plan, index }))
    .sort((a, b) => selectivityRank(a.plan) - selectivityRank(b.plan) || a.index - b.index);
  const from: string[] = [];
  const where: string[] = [];
  ordered.forEach(({ plan }, position) => {
    const name = `f${position}`;
    from.push(`${ctx.table} ${name}`);
    if (position > 0) {
      where.push(`${name}.target_id = f0.target_id`);
    }
    ctx.params.push(plan.field);
    where.push(`${name}.field = ?`);
    const condition = testsSql(plan.tests, position === 0 ? `${name}.` : `+${name}.`, ctx);
    if (condition !== undefined) {
      where.push(condition);
    }
  });
  return `${ctx.alias}.id IN (SELECT f0.target_id FROM ${from.join(' CROSS JOIN ')} WHERE ${where.join(' AND ')})`;
}

function emit(plan: Plan, ctx: Context): string {
  switch (plan.kind) {
    case 'const':
      return plan.value ? 'TRUE' : 'FALSE';
    case 'and': {
      // On SQLite the conditions on stored fields become joins (see joinSql). PostgreSQL orders
      // joins from its statistics, and planning one over dozens of tables takes it seconds: there
      // each condition stays a semi-join of its own.
      const rows =
        ctx.dialect === 'sqlite'
          ? plan.items.filter((item): item is RowsPlan => item.kind === 'rows' && item.tests.length > 0)
          : [];
      const joined = rows.length >= 2 ? rows : [];
      const parts: string[] = [];
      // SQLite joins at most 64 tables; larger conjunctions become several joins.
      for (let start = 0; start < joined.length; start += MAX_JOIN) {
        const chunk = joined.slice(start, start + MAX_JOIN);
        parts.push(chunk.length === 1 ? emit(chunk[0] as RowsPlan, ctx) : joinSql(chunk, ctx));
      }
      for (const item of plan.items) {
        if (!joined.includes(item as RowsPlan)) {
          parts.push(emit(item, ctx));
        }
      }
      return parts.length === 0 ? 'TRUE' : `(${parts.join(' AND ')})`;
    }
    case 'or':
      return plan.items.length === 0 ? 'FALSE' : `(${plan.items.map((item) => emit(item, ctx)).join(' OR ')})`;
    case 'not':
      return `NOT (${emit(plan.item, ctx)})`;
    case 'rows': {
      if (plan.tests.length === 0) {
        return 'FALSE';
      }
      if (ctx.dialect === 'postgres') {
        // PostgreSQL plans each SELECT of a UNION on its own, which costs more than running them at
        // these sizes (seconds for 64 alternatives in every condition of a large query); one
        // SELECT with the alternatives OR-ed together still reaches each index, through a BitmapOr.
        ctx.params.push(plan.field);
        const condition = testsSql(plan.tests, '', ctx);
        return `${ctx.alias}.id IN (SELECT target_id FROM ${ctx.table} WHERE field = ?${condition === undefined ? '' : ` AND ${condition}`})`;
      }
      // One SELECT per alternative, so that each can use its own index.
      const selects = alternatives(plan.tests, '', ctx).map((alternative) => {
        ctx.params.push(plan.field, ...alternative.params);
        return `SELECT target_id FROM ${ctx.table} WHERE field = ?${alternative.sql === undefined ? '' : ` AND ${alternative.sql}`}`;
      });
      return `${ctx.alias}.id IN (${selects.join(' UNION ALL ')})`;
    }
    case 'text-column': {
      if (plan.tests.length === 0) {
        return 'FALSE';
      }
      const column = `${ctx.alias}.${TEXT_COLUMNS[plan.column]}`;
      const tests = plan.tests.map((test) => {
        if (test.kind === 'glob') {
          return globSql(column, test.pattern, ctx);
        }
        ctx.params.push(test.text);
        return `${column} = ?`;
      });
      return tests.length === 1 && plan.tests[0]?.kind === 'text' ? (tests[0] as string) : `(${tests.join(' OR ')})`;
    }
    case 'time-column': {
      const column = `${ctx.alias}.${TIME_COLUMNS[plan.column]}`;
      // last_seen_at is NULL until the first report; the guard keeps the fragment from being NULL.
      return `(${column} IS NOT NULL AND ${comparison(column, plan.op, plan.value, ctx)})`;
    }
    case 'time-column-exists':
      return `${ctx.alias}.${TIME_COLUMNS[plan.column]} IS NOT NULL`;
  }
}

/** A query glob in SQLite GLOB syntax: literal `*`, `?` and `[` become one-character classes. */
export function toSqliteGlob(pattern: string): string {
  return globSteps(pattern)
    .map((step) => {
      if (typeof step === 'string') return step;
      return step.literal === '*' || step.literal === '?' || step.literal === '[' ? `[${step.literal}]` : step.literal;
    })
    .join('');
}

/**
 * A query glob as a PostgreSQL LIKE pattern (with `ESCAPE '\'`): `*` is `%`, `?` is `_`, and a
 * literal `%`, `_` or `\` is escaped. Over `COLLATE "C"` text in a UTF-8 database LIKE is
 * case-sensitive and `_` is one code point, as GLOB is in SQLite and the matcher in memory.
 */
export function toPostgresLike(pattern: string): string {
  return globSteps(pattern)
    .map((step) => {
      if (step === '*') return '%';
      if (step === '?') return '_';
      return step.literal === '%' || step.literal === '_' || step.literal === '\\' ? `\\${step.literal}` : step.literal;
    })
    .join('');
}
