import { z } from 'zod';
import { TargetId } from '../documents/common.ts';
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
  /** Last contact by age: within 5 minutes, an hour, a day, longer ago, or never (docs/dashboard.md). */
  lastSeen: z.object({
    '5m': z.number().int().min(0),
    '1h': z.number().int().min(0),
    '24h': z.number().int().min(0),
    older: z.number().int().min(0),
    never: z.number().int().min(0),
  }),
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

/** The columns a fleet listing can be sorted by. */
export const TARGET_SORTS = [
  'name',
  'status',
  'health',
  'drift',
  'region',
  'tier',
  'kubernetesVersion',
  'lastSeen',
] as const;
export const TargetSort = z.enum(TARGET_SORTS);
export type TargetSort = z.infer<typeof TargetSort>;

/** `GET /v1/targets/browse?q=&sort=&order=&offset=&limit=`: offset pages in a column's order, for tables people scroll. */
export const TargetBrowseQuery = z.strictObject({
  q: z.string().max(4096).optional(),
  sort: TargetSort.default('name'),
  order: z.enum(['asc', 'desc']).default('asc'),
  offset: z.coerce.number({ error: 'expected a whole number of at least 0' }).int().min(0).max(10_000_000).default(0),
  limit: z.coerce.number({ error: 'expected a whole number from 1 to 1000' }).int().min(1).max(1000).default(100),
});
export type TargetBrowseQuery = z.infer<typeof TargetBrowseQuery>;

/** One target as a row of a fleet table: what a person scans, not the whole record. */
export const TargetSummary = z.object({
  id: TargetId,
  name: z.string(),
  status: z.string(),
  health: z.string().nullable(),
  phase: z.string().nullable(),
  /** Drift classes in the latest drift report, most severe first. */
  drift: z.array(z.string()),
  /** Drift items under a hold (reported as intentional). */
  intentional: z.number().int().min(0),
  region: z.string().nullable(),
  tier: z.string().nullable(),
  kubernetesVersion: z.string().nullable(),
  /** Releases the target reports running, `name@version`. */
  running: z.array(z.string()),
  desiredGeneration: z.number().int().min(0),
  observedGeneration: z.number().int().min(0).nullable(),
  lastSeenAt: z.string().nullable(),
});
export type TargetSummary = z.infer<typeof TargetSummary>;

export const TargetBrowsePage = z.object({
  items: z.array(TargetSummary),
  total: z.number().int().min(0),
  offset: z.number().int().min(0),
  sort: TargetSort,
  order: z.enum(['asc', 'desc']),
  /** What the query language noticed without refusing the query; absent when nothing. */
  warnings: z.array(z.string()).optional(),
});
export type TargetBrowsePage = z.infer<typeof TargetBrowsePage>;

/** `GET /v1/targets/complete?q=&at=`: completion of the query text at cursor `at` (default: its end). */
export const QueryCompletionQuery = z.strictObject({
  q: z.string().max(4096).default(''),
  at: z.coerce.number({ error: 'expected the cursor position as a whole number' }).int().min(0).max(4096).optional(),
});
export type QueryCompletionQuery = z.infer<typeof QueryCompletionQuery>;

/** Suggestions at the cursor: replace `from`..`to` of the query with an item's `insert`. */
export const QueryCompletion = z.object({
  kind: z.enum(['field', 'value']),
  /** The field whose values are offered. */
  field: z.string().optional(),
  from: z.number().int().min(0),
  to: z.number().int().min(0),
  items: z.array(z.object({ insert: z.string(), label: z.string(), count: z.number().int().min(0).optional() })),
});
export type QueryCompletion = z.infer<typeof QueryCompletion>;
