import type { Query } from './ast.ts';

/**
 * Bounds on the size of a query. They keep parsing and evaluation cheap and recursion
 * shallow whatever a client sends, and keep the SQL inside SQLite's own limits (64 tables
 * in a join, 500 terms in a compound SELECT, expression depth 1000).
 */
export const QUERY_LIMITS = {
  /** Characters in a query string. */
  maxLength: 4096,
  /** Nesting of parentheses and negations. */
  maxDepth: 32,
  /** Conditions (field tests) in one query. */
  maxConditions: 128,
  /** Values in one `in (...)` list. */
  maxValues: 64,
} as const;

/**
 * Why a tree is too large, or `undefined` when it is within {@link QUERY_LIMITS}. Walks
 * without recursion, so that a hostile hand-built tree cannot overflow the stack here.
 */
export function queryLimitProblem(query: Query): string | undefined {
  const stack: { node: Query; depth: number }[] = [{ node: query, depth: 0 }];
  let conditions = 0;
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: Query; depth: number };
    if (depth > QUERY_LIMITS.maxDepth) {
      return `a query nests at most ${QUERY_LIMITS.maxDepth} levels of parentheses and negations`;
    }
    switch (node.kind) {
      case 'and':
      case 'or':
        for (const item of node.items) {
          stack.push({ node: item, depth: depth + 1 });
        }
        break;
      case 'not':
        stack.push({ node: node.item, depth: depth + 1 });
        break;
      case 'in':
        if (node.values.length > QUERY_LIMITS.maxValues) {
          return `a list holds at most ${QUERY_LIMITS.maxValues} values; got ${node.values.length}`;
        }
        conditions += 1;
        break;
      default:
        conditions += 1;
    }
    if (conditions > QUERY_LIMITS.maxConditions) {
      return `a query holds at most ${QUERY_LIMITS.maxConditions} conditions`;
    }
  }
  return undefined;
}
