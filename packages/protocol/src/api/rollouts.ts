import { z } from 'zod';
import { Name, ReleaseRef, TargetId, Timestamp } from '../documents/common.ts';
import { Actor } from '../documents/target.ts';

/*
 * Rollouts (docs/rollouts.md): a release rolled out to the targets a selector picks, in waves
 * with gates. Created and steered by deployers, read by viewers.
 */

/** A rollout id: `ro_` and 16 hex digits. */
export const RolloutId = z.string().regex(/^ro_[0-9a-f]{16}$/, 'a rollout id looks like ro_ followed by 16 hex digits');

/** The most waves a plan has. */
export const MAX_WAVES = 32;

const DurationInput = z.union([z.string().max(32), z.number()]);
const BudgetInput = z.union([z.string().max(16), z.number()]);
const SelectorInput = z.union([z.string().max(4096), z.record(z.string(), z.unknown())]);

/** One wave as written in a plan file or an API body. */
export const WaveInput = z.strictObject({
  name: Name.optional(),
  percent: z.union([z.number(), z.string().max(16)]).optional(),
  selector: SelectorInput.optional(),
  bake: DurationInput.optional(),
  failureBudget: BudgetInput.optional(),
  timeout: DurationInput.nullable().optional(),
});
export type WaveInput = z.infer<typeof WaveInput>;

/**
 * A plan as written in YAML (`--plan FILE`) or sent to `POST /v1/rollouts`. `waves` is a list
 * of waves or the inline form `canary:1%,early:10%,rest:100%`. Durations are `90s`, `10m`,
 * `1h30m`, `0` (or a number of seconds); a failure budget is a count (`2`) or a percentage
 * of the wave (`5%`).
 */
export const PlanInput = z.strictObject({
  release: z.string().min(1).max(200).optional(),
  selector: SelectorInput.optional(),
  waves: z.union([z.string().max(8192), z.array(WaveInput).min(1).max(MAX_WAVES)]).optional(),
  bake: DurationInput.optional(),
  failureBudget: BudgetInput.optional(),
  timeout: DurationInput.nullable().optional(),
  rollbackOnFailure: z.boolean().optional(),
});
export type PlanInput = z.infer<typeof PlanInput>;

/**
 * `POST /v1/rollouts`: a release, a selector and a plan (the fields of a plan file). With
 * `dryRun` the hub answers with the waves as they would be now, and creates nothing.
 */
export const CreateRolloutRequest = PlanInput.extend({
  release: z.string().min(1).max(200),
  selector: SelectorInput,
  dryRun: z.boolean().optional(),
});
export type CreateRolloutRequest = z.infer<typeof CreateRolloutRequest>;

export const RolloutState = z.enum(['running', 'paused', 'completed', 'aborted', 'rolled-back']);
export type RolloutState = z.infer<typeof RolloutState>;

/** `GET /v1/rollouts?state=&before=&limit=`: newest first; `before` is the `next` of the previous page. */
export const RolloutListQuery = z.strictObject({
  state: RolloutState.optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type RolloutListQuery = z.infer<typeof RolloutListQuery>;

/** Which members a rollout's view lists: all, only those that need a look, or none. */
export const MemberListing = z.enum(['all', 'problems', 'none']);
export type MemberListing = z.infer<typeof MemberListing>;

/** `GET /v1/rollouts/{id}?members=&limit=`. */
export const RolloutViewQuery = z.strictObject({
  members: MemberListing.default('all'),
  limit: z.coerce.number().int().min(0).max(100_000).default(1000),
});
export type RolloutViewQuery = z.infer<typeof RolloutViewQuery>;

/** `POST /v1/rollouts/{id}/pause`, `/resume`, `/abort`, `/rollback`: an optional reason; answered with the `RolloutView`. */
export const RolloutCommand = z.strictObject({ reason: z.string().min(1).max(1024).optional() });
export type RolloutCommand = z.infer<typeof RolloutCommand>;

/**
 * Where one target stands in a rollout.
 * - `pending`: its envelope carries the release, but no report says it was applied yet.
 * - `applied`: its latest report names the release digest at the generation that carries it, not yet healthy.
 * - `healthy`: applied, and the report's verdict is healthy.
 * - `failed`: the agent reported that generation failed or stalled, or applied it and is degraded or missing.
 * - `blocked`: selected by a wave that has started, but not updated: disabled, held by another rollout
 *   of the same release, or its release was changed outside this rollout.
 * - `planned`: in a wave that has not started.
 * - `reverting` / `reverted`: rolled back; reverted once a report shows the previous release applied.
 */
export const MemberState = z.enum([
  'pending',
  'applied',
  'healthy',
  'failed',
  'blocked',
  'planned',
  'reverting',
  'reverted',
]);
export type MemberState = z.infer<typeof MemberState>;

export const WaveState = z.enum([
  'pending',
  'in-progress',
  'baking',
  'passed',
  'paused',
  'aborted',
  'rolled-back',
  'not-started',
]);
export type WaveState = z.infer<typeof WaveState>;

const Count = z.number().int().min(0);

/**
 * Per wave, each target once. `applied` counts targets whose latest report names the release
 * digest at the generation that carries it, healthy or not. The others are exclusive:
 * `healthy`, `failed`, `pending` (updated, not yet healthy: waiting for a report, or applied
 * and still progressing), `blocked`, `planned`, `reverting` and `reverted` add up to `total`.
 */
export const WaveCounts = z.object({
  total: Count,
  applied: Count,
  healthy: Count,
  failed: Count,
  pending: Count,
  blocked: Count,
  planned: Count,
  /** After a rollback: members whose previous release is reported back in place, and those not yet. */
  reverted: Count,
  reverting: Count,
});
export type WaveCounts = z.infer<typeof WaveCounts>;

export const WaveView = z.object({
  index: Count,
  name: z.string(),
  /** `10%` or the wave's selector. */
  spec: z.string(),
  state: WaveState,
  gates: z.object({ bake: z.string(), failureBudget: z.string(), timeout: z.string().nullable() }),
  /** Failed members the wave tolerates at its current size. */
  allowedFailures: Count,
  startedAt: Timestamp.nullable(),
  gatesMetAt: Timestamp.nullable(),
  bakeUntil: Timestamp.nullable(),
  timeoutAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  counts: WaveCounts,
});
export type WaveView = z.infer<typeof WaveView>;

export const MemberView = z.object({
  targetId: TargetId,
  name: z.string(),
  wave: z.string(),
  waveIndex: Count,
  state: MemberState,
  /** The envelope generation that carries the release (members only). */
  generation: z.number().int().min(1).optional(),
  reason: z.string().optional(),
});
export type MemberView = z.infer<typeof MemberView>;

const RolloutHead = z.object({
  id: RolloutId,
  release: ReleaseRef,
  selector: z.string(),
  state: RolloutState,
  reason: z.string().nullable(),
  currentWave: z.object({ index: Count, name: z.string() }).nullable(),
  createdAt: Timestamp,
  createdBy: Actor,
  updatedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
});

/** A rollout in a list: its head, with how many waves and members it has. */
export const RolloutSummary = RolloutHead.extend({
  waves: Count,
  members: Count,
});
export type RolloutSummary = z.infer<typeof RolloutSummary>;

export const RolloutList = z.object({
  items: z.array(RolloutSummary),
  /** Pass as `before` for the next page; absent on the last page. */
  next: z.number().int().min(1).optional(),
});
export type RolloutList = z.infer<typeof RolloutList>;

/** The status of one rollout: its plan, each wave with gates, clocks and counts, and its members. */
export const RolloutView = RolloutHead.extend({
  plan: z.object({
    waves: z.array(z.object({ name: z.string(), spec: z.string() })),
    bake: z.string(),
    failureBudget: z.string(),
    timeout: z.string().nullable(),
    rollbackOnFailure: z.boolean(),
  }),
  /** How many targets the selector matches now. */
  selected: Count,
  /** Selected targets that no wave includes. */
  outside: Count,
  totals: WaveCounts.extend({ members: Count }),
  waves: z.array(WaveView),
  members: z.array(MemberView).optional(),
  /** How many members `members` would list without a limit. */
  membersTotal: Count.optional(),
});
export type RolloutView = z.infer<typeof RolloutView>;

/** What `POST /v1/rollouts` answers: 201 with the new rollout, or 200 for a dry run. */
export const CreateRolloutResult = z.object({
  rollout: RolloutView,
  /** What the operator should know: an empty selection, targets no wave includes. */
  warnings: z.array(z.string()),
  dryRun: z.boolean(),
});
export type CreateRolloutResult = z.infer<typeof CreateRolloutResult>;
