import { z } from 'zod';
import { Target } from '../documents/target.ts';

/*
 * Targets as records (docs/api.md): list and read them with fleet queries, count them by
 * facet, edit labels and properties, and revoke, disable or enable them.
 */

/** `GET /v1/targets?q=&after=&limit=`: keyset pages by id; `after` is the `next` of the previous page. */
export const TargetListQuery = z.strictObject({
  q: z.string().max(4096).optional(),
  after: z.string().max(128).default(''),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type TargetListQuery = z.infer<typeof TargetListQuery>;

export const TargetPage = z.object({
  items: z.array(Target),
  total: z.number().int().min(0),
  /** Pass as `after` for the next page; absent on the last page. Opaque: it also fixes `now` for the query's relative times. */
  next: z.string().optional(),
  /** Negated conditions on fields no target has that look like typos; absent when there are none. */
  warnings: z.array(z.string()).optional(),
});
export type TargetPage = z.infer<typeof TargetPage>;

/** `GET /v1/targets/facets?q=`. */
export const FacetQuery = z.strictObject({ q: z.string().max(4096).optional() });
export type FacetQuery = z.infer<typeof FacetQuery>;

const Counts = z.record(z.string(), z.number().int().min(0));

/** How many of the targets a query selects have each value, for the dashboard's filters. */
export const FacetCounts = z.object({
  total: z.number().int().min(0),
  status: Counts,
  health: Counts,
  /** Drift class → how many targets' latest drift report holds items of it. */
  drift: Counts,
  region: Counts,
  tier: Counts,
  kubernetesVersion: Counts,
  /** Release name → version → how many targets report running it. */
  running: z.record(z.string(), Counts),
});
export type FacetCounts = z.infer<typeof FacetCounts>;

/** `PATCH /v1/targets/{id}/labels` and `/properties`: answered with the `Target`. */
export const MetadataEdit = z.strictObject({
  set: z.record(z.string(), z.unknown()).default({}),
  remove: z.array(z.string()).max(256).default([]),
});
export type MetadataEdit = z.infer<typeof MetadataEdit>;

/** `POST /v1/targets/{id}/revoke`, `/disable`, `/enable`: answered with the `Target`. */
export const StatusChange = z.strictObject({ reason: z.string().max(1024).optional() });
export type StatusChange = z.infer<typeof StatusChange>;
