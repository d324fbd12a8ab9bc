import { z } from 'zod';
import { ReleaseRef } from '../documents/common.ts';
import { ReportPhase } from '../documents/report.ts';

/** `POST /v1/targets/{id}/reports` (a `SignedReport`): 201 when stored, 200 for a resent seq. */
export const ReportReceipt = z.object({
  seq: z.number().int().min(1),
  /** True when this seq was already stored: the agent resent it, nothing changed. */
  duplicate: z.boolean(),
  /**
   * The highest seq the hub holds for the target. Above `seq`, the agent's numbering is behind
   * (its state went back in time) and it continues past this. Also in the details of a `409
   * REPORT_SEQ_CONFLICT`.
   */
  lastSeq: z.number().int().min(0).optional(),
});
export type ReportReceipt = z.infer<typeof ReportReceipt>;

/**
 * `GET /v1/targets/{id}/reports/last` (the target's own agent): the last report the hub holds
 * of the target, or null. An agent reads it when it starts: a seq at or above its own next one,
 * or a generation above the one it last applied, means its state went back in time (a restored
 * backup, a snapshot) and it must catch up before it acts on that state.
 */
export const LastReport = z.object({
  last: z
    .object({
      seq: z.number().int().min(1),
      generation: z.number().int().min(0),
      phase: ReportPhase,
      bundles: z.array(ReleaseRef),
    })
    .nullable(),
});
export type LastReport = z.infer<typeof LastReport>;
