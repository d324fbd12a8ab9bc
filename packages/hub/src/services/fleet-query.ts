import { compileQuerySql } from '../features/targets/query-sql-store.ts';
import { parseQuery, queryCatalogFromFieldNames, validateQuery, type Query } from '@flotilla/protocol/query';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/database.ts';
import type { HubStore, TargetRow } from '../store/hub-store.ts';
import type { Clock } from './clock.ts';

export interface FacetCounts {
  readonly total: number;
  readonly status: Record<string, number>;
  readonly health: Record<string, number>;
  /** Drift class → how many targets' latest drift report holds items of it. */
  readonly drift: Record<string, number>;
  readonly region: Record<string, number>;
  readonly tier: Record<string, number>;
  readonly kubernetesVersion: Record<string, number>;
  /** Release name → version → how many targets report running it. */
  readonly running: Record<string, Record<string, number>>;
}

const STATEMENT_CACHE = 256;
const FACET_VALUES = 50;

/**
 * Runs fleet queries against the hub store: the query string is parsed once, checked against
 * the fields the fleet actually has (so a typo is an error, not an empty answer), and
 * compiled to SQL over the indexed field table. Compiled statements are cached by their text.
 */
export class FleetQuery {
  private readonly store: HubStore;
  private readonly db: Db;
  private readonly clock: Clock;
  private readonly statements = new Map<string, Statement<unknown[]>>();

  constructor(store: HubStore, clock: Clock) {
    this.store = store;
    this.db = store.db;
    this.clock = clock;
  }

  /** Parses and validates a query string; an empty or absent one selects every target. */
  parse(text: string | undefined): Query | undefined {
    return this.parseWithWarnings(text).query;
  }

  /**
   * {@link parse}, and the warnings a caller can show: negated conditions on fields no target
   * has whose spelling is close to one that exists (they select every target, so they are
   * answered, not refused).
   */
  parseWithWarnings(text: string | undefined): { query: Query | undefined; warnings: string[] } {
    if (text === undefined || text.trim() === '') return { query: undefined, warnings: [] };
    const query = parseQuery(text);
    const warnings = validateQuery(query, queryCatalogFromFieldNames(this.store.knownFieldNames()), text);
    return { query, warnings: warnings.map((warning) => warning.message) };
  }

  private where(query: Query | undefined): { where: string; params: unknown[] } {
    return query === undefined ? { where: '1', params: [] } : compileQuerySql(query, { now: this.clock(), alias: 't' });
  }

  private prepare(sql: string): Statement<unknown[]> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.delete(this.statements.keys().next().value!);
      statement = this.db.prepare<unknown[]>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * One page of matching targets in id order, after `after`, and how many match in all, with
   * relative times evaluated at `now`. The query runs once: it yields the matching ids (the
   * total is their count), and only the page's rows are read whole.
   */
  page(query: Query | undefined, after: string, limit: number, now: number): { rows: TargetRow[]; total: number } {
    if (query === undefined) {
      const rows = this.prepare('SELECT t.* FROM targets t WHERE t.id > ? ORDER BY t.id LIMIT ?').all(after, limit) as TargetRow[];
      return { rows, total: (this.prepare('SELECT count(*) AS n FROM targets').get() as { n: number }).n };
    }
    const ids = this.ids(query, now);
    const start = firstAfter(ids, after);
    const pageIds = ids.slice(start, start + limit);
    const rows = this.prepare('SELECT t.* FROM json_each(?) j JOIN targets t ON t.id = j.value ORDER BY t.id').all(JSON.stringify(pageIds)) as TargetRow[];
    return { rows, total: ids.length };
  }

  /**
   * The ids of every matching target, sorted, for pages, rollouts, policy and audit filters.
   * Answered from the in-memory fleet index, which agrees with the SQL compiler (a property
   * test checks the two against each other) and costs a pass over distinct values rather
   * than index seeks per candidate. Relative times are evaluated at `now`, by default the clock's.
   */
  ids(query: Query | undefined, now: number = this.clock()): string[] {
    if (query === undefined) return (this.prepare('SELECT t.id FROM targets t ORDER BY t.id').all() as { id: string }[]).map((r) => r.id);
    return this.store.fleetIndex().select(query, now);
  }

  /** Counts for the dashboard's filters, over the targets that match. */
  facets(query: Query | undefined): FacetCounts {
    const { where, params } = this.where(query);
    const scope = `target_id IN (SELECT t.id FROM targets t WHERE (${where}))`;
    const byField = (field: string): Record<string, number> =>
      Object.fromEntries(
        (this.prepare(`SELECT text_value AS value, count(*) AS n FROM target_fields WHERE field = ? AND ${scope} GROUP BY text_value ORDER BY n DESC, value LIMIT ${FACET_VALUES}`).all(field, ...params) as { value: string; n: number }[]).map((r) => [r.value, r.n]),
      );
    const status = Object.fromEntries((this.prepare(`SELECT t.status AS value, count(*) AS n FROM targets t WHERE (${where}) GROUP BY t.status`).all(...params) as { value: string; n: number }[]).map((r) => [r.value, r.n]));
    const running: Record<string, Record<string, number>> = {};
    const releaseRows = this.prepare(`SELECT field, text_value AS value, count(*) AS n FROM target_fields WHERE field >= 'running.' AND field < 'running/' AND ${scope} GROUP BY field, text_value ORDER BY field, n DESC`).all(...params) as { field: string; value: string; n: number }[];
    for (const row of releaseRows) (running[row.field.slice('running.'.length)] ??= {})[row.value] = row.n;
    return {
      total: Object.values(status).reduce((a, b) => a + b, 0),
      status,
      health: byField('health'),
      drift: byField('drift'),
      region: byField('key.region'),
      tier: byField('key.tier'),
      kubernetesVersion: byField('facts.kubernetesVersion'),
      running,
    };
  }
}

/** The index of the first id greater than `after` in a sorted list. */
function firstAfter(ids: readonly string[], after: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ids[mid]! <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}
