import { z } from 'zod';
import { Timestamp } from '../documents/common.ts';
import { AttributionBasis, DriftOperation } from './attribute-drift.ts';
import type { DriftDecision } from './classify-drift.ts';
import { DriftChange } from './drift-item.ts';
import { DriftAction, DriftClass } from './drift-policy.ts';
import { SecurityDetector } from './security-detector.ts';

/** Longest JSON preview of a desired or observed value in a report. */
export const DRIFT_VALUE_PREVIEW_MAX = 512;
/** Most drift items one report carries; the rest are counted in `omitted`. */
export const DRIFT_REPORT_MAX_ITEMS = 1000;

/** One classified drift item as an agent reports it: bounded, with values as JSON previews. */
export const DriftItemReport = z.strictObject({
  resourceKey: z.string().min(1).max(512),
  kind: z.string().min(1).max(128),
  path: z.string().max(1024),
  change: DriftChange,
  /** JSON of the desired value, cut at {@link DRIFT_VALUE_PREVIEW_MAX} characters. */
  desired: z.string().max(DRIFT_VALUE_PREVIEW_MAX).optional(),
  observed: z.string().max(DRIFT_VALUE_PREVIEW_MAX).optional(),
  actor: z.strictObject({
    manager: z.string().max(256),
    operation: DriftOperation,
    subresource: z.string().max(64).optional(),
    basis: AttributionBasis,
  }),
  since: Timestamp.optional(),
  class: DriftClass,
  action: DriftAction,
  ruleId: z.string().min(1).max(64),
  reason: z.string().max(1024),
  detectors: z.array(SecurityDetector).max(SecurityDetector.options.length),
  intentional: z.literal(true).optional(),
  holdId: z.string().min(1).max(128).optional(),
  holdSource: z.enum(['envelope', 'annotation']).optional(),
});
export type DriftItemReport = z.infer<typeof DriftItemReport>;

const CLASS_COUNTS = z.strictObject({
  acceptable: z.number().int().min(0),
  transient: z.number().int().min(0),
  suspicious: z.number().int().min(0),
  dangerous: z.number().int().min(0),
});

/**
 * The drift part of an agent's report: the most severe items first, how many were left out to
 * keep the report bounded, and the count of every class (including the left-out items).
 */
export const DriftReportSection = z.strictObject({
  items: z.array(DriftItemReport).max(DRIFT_REPORT_MAX_ITEMS),
  omitted: z.number().int().min(0),
  counts: CLASS_COUNTS,
});
export type DriftReportSection = z.infer<typeof DriftReportSection>;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function preview(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let json: string;
  try {
    json = JSON.stringify(value) ?? 'null';
  } catch {
    json = '"<unserializable>"';
  }
  return cut(json, DRIFT_VALUE_PREVIEW_MAX);
}

/** Turns a decision into its bounded report form, cutting long strings and values. */
export function toDriftItemReport(decision: DriftDecision): DriftItemReport {
  const { item, actor } = decision;
  const desired = preview(item.desired);
  const observed = preview(item.observed);
  return {
    resourceKey: cut(item.resourceKey, 512),
    kind: cut(item.kind, 128),
    path: cut(item.path, 1024),
    change: item.change,
    ...(desired === undefined ? {} : { desired }),
    ...(observed === undefined ? {} : { observed }),
    actor: {
      manager: cut(actor.manager, 256),
      operation: actor.operation,
      ...(actor.subresource === undefined ? {} : { subresource: cut(actor.subresource, 64) }),
      basis: actor.basis,
    },
    // A since that is not a valid timestamp is a substrate quirk; the report leaves it out.
    ...(decision.since !== undefined && Timestamp.safeParse(decision.since).success ? { since: decision.since } : {}),
    class: decision.class,
    action: decision.action,
    ruleId: cut(decision.ruleId, 64),
    reason: cut(decision.reason, 1024),
    detectors: [...decision.detectors],
    ...(decision.intentional === true ? { intentional: true as const } : {}),
    ...(decision.holdId === undefined ? {} : { holdId: cut(decision.holdId, 128) }),
    ...(decision.holdSource === undefined ? {} : { holdSource: decision.holdSource }),
  };
}

const SEVERITY: Readonly<Record<DriftClass, number>> = { dangerous: 0, suspicious: 1, transient: 2, acceptable: 3 };

/**
 * Builds the drift section of a report: every class counted, the most severe items kept first
 * (dangerous, suspicious, transient, acceptable; stable within a class) up to `limit`.
 */
export function buildDriftReportSection(decisions: readonly DriftDecision[], limit: number = DRIFT_REPORT_MAX_ITEMS): DriftReportSection {
  if (!Number.isInteger(limit) || limit < 0 || limit > DRIFT_REPORT_MAX_ITEMS) {
    throw new TypeError(`limit must be an integer from 0 to ${DRIFT_REPORT_MAX_ITEMS}, received ${String(limit)}`);
  }
  const counts = { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 };
  for (const decision of decisions) counts[decision.class]++;
  const ordered = decisions
    .map((decision, index) => ({ decision, index }))
    .sort((a, b) => SEVERITY[a.decision.class] - SEVERITY[b.decision.class] || a.index - b.index);
  const kept = ordered.slice(0, limit).map(({ decision }) => toDriftItemReport(decision));
  return { items: kept, omitted: decisions.length - kept.length, counts };
}
