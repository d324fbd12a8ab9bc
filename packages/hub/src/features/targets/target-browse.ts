import type { Query } from '@flotilla/protocol/query';
import type { Target } from '@flotilla/protocol';
import type { TargetBrowsePage, TargetSort, TargetSummary } from '@flotilla/protocol/api';
import type { FleetIndex } from './fleet-index.ts';
import type { FleetQuery } from './fleet-query.ts';
import type { TargetBrowseStore } from './target-browse-store.ts';

/** Where the in-memory fleet index lives: the target store, which writes through to it. */
export interface FleetIndexSource {
  fleetIndex(): FleetIndex;
}

const DRIFT_SEVERITY: Readonly<Record<string, number>> = { dangerous: 0, suspicious: 1, transient: 2, acceptable: 3 };
const HEALTH_ORDER: Readonly<Record<string, number>> = {
  degraded: 0,
  missing: 1,
  progressing: 2,
  unknown: 3,
  healthy: 4,
};
const STATUS_ORDER: Readonly<Record<string, number>> = { revoked: 0, disabled: 1, active: 2 };
const SORT_FIELDS: Partial<Record<TargetSort, string>> = {
  health: 'health',
  drift: 'drift',
  region: 'key.region',
  tier: 'key.tier',
  kubernetesVersion: 'facts.kubernetesVersion',
};
const CACHE_MS = 3_000;
const CACHE_ENTRIES = 16;

type Key = string | number;

interface NameOrder {
  /** How many targets the fleet index held when the order was made. */
  readonly size: number;
  readonly all: readonly string[];
  readonly rank: ReadonlyMap<string, number>;
}

interface Ordered {
  readonly ids: string[];
  readonly warnings: string[];
  readonly at: number;
}

function textOf(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : null;
}

/**
 * Offset pages of the fleet in any column's order, for tables a person scrolls: the query
 * selects ids from the in-memory index, the ids are ordered once by the sort key (missing
 * values last, name breaking ties) and kept a few seconds, so the windows a scrolling table
 * asks for read only their own rows.
 */
export class TargetBrowser {
  private readonly fleet: FleetQuery;
  private readonly index: FleetIndexSource;
  private readonly browse: TargetBrowseStore;
  private readonly ordered = new Map<string, Ordered>();
  private names: NameOrder | undefined;

  constructor(deps: { fleet: FleetQuery; index: FleetIndexSource; browse: TargetBrowseStore }) {
    this.fleet = deps.fleet;
    this.index = deps.index;
    this.browse = deps.browse;
  }

  /** The ids of the targets `query` selects now (a scoped token's scope). */
  ids(query: Query): string[] {
    return this.fleet.ids(query);
  }

  page(
    q: string | undefined,
    sort: TargetSort,
    order: 'asc' | 'desc',
    offset: number,
    limit: number,
  ): TargetBrowsePage {
    const { ids, warnings } = this.orderedIds(q, sort, order);
    const pageIds = ids.slice(offset, offset + limit);
    const found = new Map(this.browse.targets(pageIds).map((target) => [target.id, target]));
    const items: TargetSummary[] = [];
    for (const id of pageIds) {
      const target = found.get(id);
      if (target !== undefined) items.push(summarize(target));
    }
    return { items, total: ids.length, offset, sort, order, ...(warnings.length === 0 ? {} : { warnings }) };
  }

  private orderedIds(q: string | undefined, sort: TargetSort, order: 'asc' | 'desc'): Ordered {
    const cacheKey = `${q ?? ''}\u0000${sort}\u0000${order}`;
    const now = Date.now();
    const cached = this.ordered.get(cacheKey);
    if (cached !== undefined && now - cached.at < CACHE_MS) return cached;
    const { query, warnings } = this.fleet.parseWithWarnings(q);
    const ordered = { ids: this.sortIds(this.fleet.ids(query), sort, order), warnings, at: now };
    if (this.ordered.size >= CACHE_ENTRIES) this.ordered.delete(this.ordered.keys().next().value!);
    this.ordered.set(cacheKey, ordered);
    return ordered;
  }

  private sortIds(ids: string[], sort: TargetSort, order: 'asc' | 'desc'): string[] {
    const index = this.index.fleetIndex();
    const { all, rank } = this.nameOrder(index);
    if (sort === 'name') {
      // The fleet's name order, kept, filtered to the selection: a pass instead of a sort.
      const selected = new Set(ids);
      const sorted = all.filter((id) => selected.has(id));
      return order === 'asc' ? sorted : sorted.reverse();
    }
    const keys = this.sortKeys(ids, sort, index);
    const direction = order === 'asc' ? 1 : -1;
    const byName = (a: string, b: string): number => (rank.get(a) ?? 0) - (rank.get(b) ?? 0);
    return ids.slice().sort((a, b) => {
      const x = keys.get(a);
      const y = keys.get(b);
      if (x === undefined || y === undefined) return x === y ? byName(a, b) : x === undefined ? 1 : -1;
      if (x !== y) return direction * (x < y ? -1 : 1);
      return byName(a, b);
    });
  }

  /**
   * Every target id in name order, and each id's place in it. Names are given at enrollment
   * and never change, and targets are never deleted, so the order is rebuilt only when the
   * fleet grows.
   */
  private nameOrder(index: FleetIndex): NameOrder {
    if (this.names?.size === index.size) return this.names;
    const named = this.fleet.ids(undefined).map((id) => ({ id, name: index.columnsOf(id)?.name ?? id }));
    named.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const all = named.map((n) => n.id);
    this.names = { size: index.size, all, rank: new Map(all.map((id, i) => [id, i])) };
    return this.names;
  }

  private sortKeys(ids: readonly string[], sort: TargetSort, index: FleetIndex): Map<string, Key> {
    const keys = new Map<string, Key>();
    if (sort === 'status' || sort === 'lastSeen') {
      for (const id of ids) {
        const columns = index.columnsOf(id);
        if (columns === undefined) continue;
        if (sort === 'status') keys.set(id, STATUS_ORDER[columns.status] ?? 9);
        else if (columns.lastSeen !== null) keys.set(id, columns.lastSeen);
      }
      return keys;
    }
    const field = SORT_FIELDS[sort];
    if (field === undefined) return keys;
    const rank = sort === 'health' ? HEALTH_ORDER : sort === 'drift' ? DRIFT_SEVERITY : undefined;
    for (const { id, key } of this.browse.fieldKeys(field)) {
      const value: Key = rank === undefined ? key : (rank[key] ?? 9);
      const before = keys.get(id);
      // A target with several drift classes sorts by its most severe one.
      if (before === undefined || value < before) keys.set(id, value);
    }
    return keys;
  }
}

function summarize(target: Target): TargetSummary {
  const read = (key: string): string | null => textOf(target.properties[key]) ?? target.labels[key] ?? null;
  const counts = (target.drift?.counts ?? {}) as Record<string, number>;
  return {
    id: target.id,
    name: target.name,
    status: target.status,
    health: target.observed?.health ?? null,
    phase: target.observed?.phase ?? null,
    drift: Object.keys(DRIFT_SEVERITY).filter((c) => (counts[c] ?? 0) > 0),
    intentional: target.drift?.intentional ?? 0,
    region: read('region'),
    tier: read('tier'),
    kubernetesVersion: textOf(target.facts['kubernetesVersion']),
    running: (target.observed?.bundles ?? []).map((b) => `${b.name}@${b.version}`),
    desiredGeneration: target.desired.generation,
    observedGeneration: target.observed?.generation ?? null,
    lastSeenAt: target.lastSeenAt,
  };
}
