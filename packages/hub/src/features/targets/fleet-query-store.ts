import type { Target } from '@flotilla/protocol';
import type { FacetCounts } from '@flotilla/protocol/api';
import type { Query } from '@flotilla/protocol/query';
import { dialectOf, forDialect, type Statement } from '../../store/sql.ts';
import type { Db } from '../../store/database.ts';
import { compileQuerySql } from './query-sql-store.ts';
import { TARGET_PAGE_TEXT_SQL, targetPageFromText, type TargetJson } from './target-page-text.ts';
import { TARGET_DOCUMENT_COLUMNS, targetFromColumns, type TargetDocumentColumns } from './target-store.ts';

const STATEMENT_CACHE = 256;
const FACET_VALUES = 50;

/**
 * The SQL of fleet queries that the in-memory index does not answer: pages of whole targets,
 * the unfiltered listing, and facet counts over a query compiled to SQL. Compiled statements
 * are cached by their text.
 */
export class FleetQueryStore {
  private readonly db: Db;
  private readonly statements = new Map<string, Statement<unknown[]>>();

  /** The page statements' texts, made once: a long text is hashed again for the cache each time it is made. */
  private readonly sql: { readonly page: string; readonly targets: string };

  constructor(db: Db) {
    this.db = db;
    const aggregate = forDialect(db, TARGET_PAGE_TEXT_SQL);
    this.sql = {
      page: `SELECT ${aggregate} FROM (SELECT ${TARGET_DOCUMENT_COLUMNS} FROM targets t WHERE t.id > ? ORDER BY t.id LIMIT ?) t`,
      targets: forDialect(db, {
        sqlite: `SELECT ${aggregate} FROM json_each(?) j JOIN targets t ON t.id = j.value`,
        postgres: `SELECT ${aggregate} FROM json_array_elements_text(?::json) j(value) JOIN targets t ON t.id = j.value`,
      }),
    };
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

  /** Every target in id order after `after`, at most `limit`, as JSON text. */
  pageJson(after: string, limit: number): TargetJson[] {
    return this.pageText(this.sql.page, after, limit);
  }

  count(): number {
    return (this.prepare('SELECT count(*) AS n FROM targets').get() as { n: number }).n;
  }

  /**
   * These targets, in id order: what a page of a fleet query reads. Only the columns the
   * documents are made of, as arrays rather than objects of named fields.
   */
  targets(ids: readonly string[]): Target[] {
    return this.documentColumns(ids).map(targetFromColumns);
  }

  /** {@link targets} as JSON text, for an answer that sends them as they are stored. */
  targetsJson(ids: readonly string[]): TargetJson[] {
    return this.pageText(this.sql.targets, JSON.stringify(ids));
  }

  /** The documents a statement of one {@link TARGET_PAGE_TEXT_SQL} value selects. */
  private pageText(sql: string, ...params: unknown[]): TargetJson[] {
    const row = this.prepare(sql)
      .raw()
      .get(...params) as [string | null] | undefined;
    return targetPageFromText(row?.[0]);
  }

  private documentColumns(ids: readonly string[]): TargetDocumentColumns[] {
    return this.prepare(
      forDialect(this.db, {
        sqlite: `SELECT ${TARGET_DOCUMENT_COLUMNS} FROM json_each(?) j JOIN targets t ON t.id = j.value ORDER BY t.id`,
        postgres: `SELECT ${TARGET_DOCUMENT_COLUMNS} FROM json_array_elements_text(?::json) j(value) JOIN targets t ON t.id = j.value ORDER BY t.id`,
      }),
    )
      .raw()
      .all(JSON.stringify(ids)) as TargetDocumentColumns[];
  }

  /** Every target id, sorted. */
  allIds(): string[] {
    return (this.prepare('SELECT t.id FROM targets t ORDER BY t.id').all() as { id: string }[]).map((r) => r.id);
  }

  /** Counts for the dashboard's filters, over the targets that match. */
  facets(query: Query | undefined, now: number): FacetCounts {
    const { where, params } =
      query === undefined
        ? { where: 'TRUE', params: [] }
        : compileQuerySql(query, { now, alias: 't', dialect: dialectOf(this.db) });
    const scope = `target_id IN (SELECT t.id FROM targets t WHERE (${where}))`;
    const byField = (field: string): Record<string, number> =>
      Object.fromEntries(
        (
          this.prepare(
            `SELECT text_value AS value, count(*) AS n FROM target_fields WHERE field = ? AND ${scope} GROUP BY text_value ORDER BY n DESC, value LIMIT ${FACET_VALUES}`,
          ).all(field, ...params) as { value: string; n: number }[]
        ).map((r) => [r.value, r.n]),
      );
    const status = Object.fromEntries(
      (
        this.prepare(`SELECT t.status AS value, count(*) AS n FROM targets t WHERE (${where}) GROUP BY t.status`).all(
          ...params,
        ) as { value: string; n: number }[]
      ).map((r) => [r.value, r.n]),
    );
    const running: Record<string, Record<string, number>> = {};
    const releaseRows = this.prepare(
      `SELECT field, text_value AS value, count(*) AS n FROM target_fields WHERE field >= 'running.' AND field < 'running/' AND ${scope} GROUP BY field, text_value ORDER BY field, n DESC`,
    ).all(...params) as { field: string; value: string; n: number }[];
    for (const row of releaseRows) (running[row.field.slice('running.'.length)] ??= {})[row.value] = row.n;
    const lastSeen: FacetCounts['lastSeen'] = { '5m': 0, '1h': 0, '24h': 0, older: 0, never: 0 };
    const ageSql = `SELECT CASE WHEN t.last_seen_at IS NULL THEN 'never' WHEN t.last_seen_at > ? THEN '5m' WHEN t.last_seen_at > ? THEN '1h' WHEN t.last_seen_at > ? THEN '24h' ELSE 'older' END AS value, count(*) AS n FROM targets t WHERE (${where}) GROUP BY value`;
    for (const row of this.prepare(ageSql).all(
      now - 5 * 60_000,
      now - 60 * 60_000,
      now - 24 * 60 * 60_000,
      ...params,
    ) as { value: keyof FacetCounts['lastSeen']; n: number }[])
      lastSeen[row.value] = row.n;
    return {
      total: Object.values(status).reduce((a, b) => a + b, 0),
      status,
      health: byField('health'),
      drift: byField('drift'),
      region: byField('key.region'),
      tier: byField('key.tier'),
      kubernetesVersion: byField('facts.kubernetesVersion'),
      running,
      lastSeen,
    };
  }
}
