import { describe, expect, it } from 'vitest';
import { parseQuery } from '@flotilla/protocol/query';
import { compileQuerySql, toPostgresLike, toSqliteGlob } from '../../../src/features/targets/query-sql-store.ts';
import { versionLinePrefix } from '../../../../protocol/src/query/version-key.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');

// Agreement with the in-memory evaluator is checked against real SQLite by the hub's
// property test; these cases pin the shape that makes the SQL fast.
describe('compileQuerySql', () => {
  it('joins the mission query in a fixed order, the exact value first, with its parameters in order', () => {
    const { where, params } = compileQuerySql(
      parseQuery('region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d'),
      { now: NOW },
    );
    expect(where).toBe(
      '(t.id IN (SELECT f0.target_id FROM target_fields f0 CROSS JOIN target_fields f1 CROSS JOIN target_fields f2 WHERE ' +
        'f0.field = ? AND f0.text_value = ? AND ' +
        'f1.target_id = f0.target_id AND f1.field = ? AND +f1.text_value >= ? AND +f1.text_value < ? AND +f1.text_value GLOB ? AND ' +
        'f2.target_id = f0.target_id AND f2.field = ? AND +f2.version_key >= ? AND +f2.version_key < ?) ' +
        'AND (t.last_changed_at IS NOT NULL AND t.last_changed_at < ?))',
    );
    const line = versionLinePrefix('4.2') as string;
    expect(params).toEqual([
      'key.owner',
      'atlas',
      'key.region',
      'eu-',
      'eu.',
      'eu-*',
      'running.app',
      line,
      `${line.slice(0, -1)}/`,
      NOW - 30 * 86_400_000,
    ]);
  });

  it.each([
    ['', 'TRUE', []],
    ['status in (active, disabled)', '(t.status = ? OR t.status = ?)', ['active', 'disabled']],
    ['name=web-*', '(t.name >= ? AND t.name < ? AND t.name GLOB ?)', ['web-', 'web.', 'web-*']],
    ['!lastSeen', 'NOT (t.last_seen_at IS NOT NULL)', []],
    [
      'labels.x="a[b]*"',
      't.id IN (SELECT target_id FROM target_fields WHERE field = ? AND text_value >= ? AND text_value < ? AND text_value GLOB ?)',
      ['labels.x', 'a[b]', 'a[b^', 'a[[]b]*'],
    ],
    [
      'cost>2.5',
      't.id IN (SELECT target_id FROM target_fields WHERE field = ? AND num_value > ? UNION ALL SELECT target_id FROM target_fields WHERE field = ? AND version_key > ?)',
      ['key.cost', 2.5, 'key.cost', expect.any(String)],
    ],
  ])('compiles %j to %s', (query, where, params) => {
    expect(compileQuerySql(parseQuery(query), { now: NOW })).toEqual({ where, params });
  });

  it('qualifies columns with the alias it is given', () => {
    expect(compileQuerySql(parseQuery('status=active, region=eu-west-1'), { now: NOW, alias: 'tg' }).where).toBe(
      '(tg.status = ? AND tg.id IN (SELECT target_id FROM target_fields WHERE field = ? AND text_value = ?))',
    );
  });

  it('writes a semi-join per condition for PostgreSQL, its alternatives in one SELECT and globs as LIKE', () => {
    const { where, params } = compileQuerySql(parseQuery('region in (eu-*, us-east-1), owner=atlas, name=web-?'), {
      now: NOW,
      dialect: 'postgres',
    });
    expect(where).toBe(
      "(t.id IN (SELECT target_id FROM target_fields WHERE field = ? AND ((text_value = ?) OR (text_value >= ? AND text_value < ? AND text_value LIKE ? ESCAPE '\\'))) " +
        'AND t.id IN (SELECT target_id FROM target_fields WHERE field = ? AND text_value = ?) ' +
        "AND (t.name >= ? AND t.name < ? AND t.name LIKE ? ESCAPE '\\'))",
    );
    expect(params).toEqual([
      'key.region',
      'us-east-1',
      'eu-',
      'eu.',
      'eu-%',
      'key.owner',
      'atlas',
      'web-',
      'web.',
      'web-_',
    ]);
  });

  it.each([['t; DROP TABLE targets'], ['']])('refuses the alias %j', (alias) => {
    expect(() => compileQuerySql(parseQuery('region'), { now: NOW, alias })).toThrow(TypeError);
  });
});

describe('toSqliteGlob', () => {
  it.each([
    ['eu-*', 'eu-*'],
    ['a\\*b', 'a[*]b'],
    ['a\\?*', 'a[?]*'],
    ['x[y]*', 'x[[]y]*'],
    ['a\\\\*', 'a\\*'],
  ])('writes %j for SQLite GLOB as %j', (pattern, sqlite) => {
    expect(toSqliteGlob(pattern)).toBe(sqlite);
  });
});

describe('toPostgresLike', () => {
  it.each([
    ['eu-*', 'eu-%'],
    ['a?c', 'a_c'],
    ['a\\*b', 'a*b'],
    ['a\\?*', 'a?%'],
    ['50%_off*', '50\\%\\_off%'],
    ['a\\\\*', 'a\\\\%'],
    ['x[y]*', 'x[y]%'],
  ])('writes %j for PostgreSQL LIKE as %j', (pattern, like) => {
    expect(toPostgresLike(pattern)).toBe(like);
  });
});
