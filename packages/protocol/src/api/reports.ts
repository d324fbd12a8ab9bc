import { z } from 'zod';

/** `POST /v1/targets/{id}/reports` (a `SignedReport`): 201 when stored, 200 for a resent seq. */
export const ReportReceipt = z.object({
  seq: z.number().int().min(1),
  /** True when this seq was already stored: the agent resent it, nothing changed. */
  duplicate: z.boolean(),
});
export type ReportReceipt = z.infer<typeof ReportReceipt>;
