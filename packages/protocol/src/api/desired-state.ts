import { z } from 'zod';
import { ReleaseRef } from '../documents/common.ts';

/*
 * Desired state: what each target should run. Agents long-poll
 * `GET /v1/targets/{id}/envelope` for a `SignedEnvelope`; operators assign releases.
 */

/** `POST /v1/targets/{id}/assign`: every release the target should run, as `name@version` or a digest. */
export const AssignRequest = z.strictObject({
  bundles: z.array(z.string()).max(256),
});
export type AssignRequest = z.infer<typeof AssignRequest>;

/** The generation whose envelope carries the new desired state, and its releases. */
export const AssignResult = z.object({
  generation: z.number().int().min(1),
  bundles: z.array(ReleaseRef),
});
export type AssignResult = z.infer<typeof AssignResult>;
