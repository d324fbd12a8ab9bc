import type { Target } from '../documents/target.ts';
import { targetFieldRows } from './target-fields.ts';

/**
 * The keys that exist somewhere in the fleet: what {@link validateQuery} checks fields
 * against. Facts are dotted paths (`capabilities.nvidia.com/gpu`); releases are names seen
 * in any target's desired or running bundles (the hub may add every published bundle name).
 */
export interface QueryFieldCatalog {
  readonly labels: ReadonlySet<string>;
  readonly properties: ReadonlySet<string>;
  readonly facts: ReadonlySet<string>;
  readonly releases: ReadonlySet<string>;
}

/**
 * A catalog from stored field names, as `SELECT DISTINCT field FROM target_fields` returns
 * them. Names of other shapes (`key.*`, `health`, `phase`) are ignored.
 */
export function queryCatalogFromFieldNames(names: Iterable<string>): QueryFieldCatalog {
  const labels = new Set<string>();
  const properties = new Set<string>();
  const facts = new Set<string>();
  const releases = new Set<string>();
  const sets: Readonly<Record<string, Set<string>>> = {
    labels,
    properties,
    facts,
    running: releases,
    desired: releases,
  };
  for (const name of names) {
    const dot = name.indexOf('.');
    const set = dot < 0 ? undefined : sets[name.slice(0, dot)];
    set?.add(name.slice(dot + 1));
  }
  return { labels, properties, facts, releases };
}

/** A catalog of the keys the given targets carry, for a hub that keeps its fleet in memory. */
export function buildQueryFieldCatalog(targets: Iterable<Target>): QueryFieldCatalog {
  const names = new Set<string>();
  for (const target of targets) {
    for (const row of targetFieldRows(target)) {
      names.add(row.field);
    }
  }
  return queryCatalogFromFieldNames(names);
}
