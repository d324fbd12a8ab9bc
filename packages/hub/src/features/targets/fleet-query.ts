import type { Target } from '@flotilla/protocol';
import type { FacetCounts } from '@flotilla/protocol/api';
import { parseQuery, queryCatalogFromFieldNames, validateQuery, type Query } from '@flotilla/protocol/query';
import type { Clock } from '../../clock.ts';
import type { FleetIndex } from './fleet-index.ts';
import type { FleetQueryStore } from './fleet-query-store.ts';
import type { TargetJson } from './target-page-text.ts';
import type { TargetStore } from './target-store.ts';

/** How many query texts' parses are kept: a dashboard or a script asks the same few again and again. */
const PARSED_QUERIES = 256;

interface ParsedQuery {
  readonly query: Query;
  readonly warnings: readonly string[];
}

export interface FleetQueryDeps {
  readonly targets: TargetStore;
  readonly store: FleetQueryStore;
  readonly clock: Clock;
}

/**
 * Fleet queries (docs/query-language.md) for every feature that selects targets: the query
 * string is parsed once and checked against the fields the fleet actually has (so a typo is an
 * error, not an empty answer); matching ids come from the in-memory fleet index.
 */
export class FleetQuery {
  private readonly deps: FleetQueryDeps;
  /** Queries by their text, parsed and checked against `checkedAgainst`, the fleet's field names of the time. */
  private readonly parsed = new Map<string, ParsedQuery>();
  private checkedAgainst: { readonly names: ReadonlySet<string>; readonly size: number } | undefined;

  constructor(deps: FleetQueryDeps) {
    this.deps = deps;
  }

  /** Parses and validates a query string; an empty or absent one selects every target. */
  parse(text: string | undefined): Query | undefined {
    return this.parseWithWarnings(text).query;
  }

  /**
   * {@link parse}, and the warnings a caller can show: negated conditions on fields no target
   * has whose spelling is close to one that exists (they select every target, so they are
   * answered, not refused). A text parsed before is not parsed again while the fleet's field
   * names are the same (they only ever grow, or are read afresh); a refused one is, each time.
   */
  parseWithWarnings(text: string | undefined): { query: Query | undefined; warnings: string[] } {
    if (text === undefined || text.trim() === '') return { query: undefined, warnings: [] };
    const names = this.deps.targets.knownFieldNames();
    if (this.checkedAgainst?.names !== names || this.checkedAgainst.size !== names.size) {
      this.parsed.clear();
      this.checkedAgainst = { names, size: names.size };
    }
    let parsed = this.parsed.get(text);
    if (parsed === undefined) {
      const query = parseQuery(text);
      parsed = { query, warnings: this.validate(query, text) };
      if (this.parsed.size >= PARSED_QUERIES) this.parsed.delete(this.parsed.keys().next().value!);
      this.parsed.set(text, parsed);
    }
    return { query: parsed.query, warnings: [...parsed.warnings] };
  }

  /**
   * Checks a parsed query's fields against the fleet's: a key no target has is an error (a
   * typo) in a positive condition; a negated one that looks like a typo is answered, and its
   * warning returned.
   */
  validate(query: Query, source: string | undefined): string[] {
    return validateQuery(query, queryCatalogFromFieldNames(this.deps.targets.knownFieldNames()), source).map(
      (warning) => warning.message,
    );
  }

  /**
   * The ids of every matching target, sorted, for pages, rollouts, incidents and audit
   * filters. Answered from the in-memory fleet index, which agrees with the SQL compiler (a
   * property test checks the two against each other). Relative times are evaluated at `now`,
   * by default the clock's.
   */
  ids(query: Query | undefined, now: number = this.deps.clock()): string[] {
    if (query === undefined) return this.deps.store.allIds();
    return this.deps.targets.fleetIndex().select(query, now);
  }

  /**
   * One page of matching targets in id order, after `after`, as JSON text, and how many match in
   * all, with relative times evaluated at `now`. The query runs once: it yields the matching ids
   * (the total is their count), and only the page's targets are read.
   */
  page(query: Query | undefined, after: string, limit: number, now: number): { targets: TargetJson[]; total: number } {
    if (query === undefined) return { targets: this.deps.store.pageJson(after, limit), total: this.deps.store.count() };
    const ids = this.ids(query, now);
    const start = firstAfter(ids, after);
    return { targets: this.deps.store.targetsJson(ids.slice(start, start + limit)), total: ids.length };
  }

  /** Every matching target, whole, in id order: for plans that read each target's record. */
  selectTargets(query: Query | undefined, now: number): Target[] {
    return this.deps.store.targets(this.ids(query, now));
  }

  /** The fleet index, caught up with every write: for plans that read columns rather than records. */
  index(): FleetIndex {
    return this.deps.targets.fleetIndex();
  }

  /** These targets' records, in id order. */
  records(ids: readonly string[]): Target[] {
    return this.deps.store.targets(ids);
  }

  /** Counts for the dashboard's filters, over the targets that match. */
  facets(query: Query | undefined): FacetCounts {
    return this.deps.store.facets(query, this.deps.clock());
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
