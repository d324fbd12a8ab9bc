import { z } from 'zod';
import { Timestamp } from './common.ts';
import { DriftAction, DriftClass } from './drift-policy.ts';
import { AttributionBasis, DriftChange, DriftOperation, SecurityDetector } from './drift-vocabulary.ts';

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
