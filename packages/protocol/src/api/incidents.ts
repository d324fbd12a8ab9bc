import { z } from 'zod';
import { TargetId, Timestamp } from '../documents/common.ts';
import { Actor } from '../documents/target.ts';

/*
 * Incidents (docs/drift.md, "Holds"): while one is open, every target its selector matches
 * carries it as a hold, and nothing is reverted there.
 */

/** An incident id as operators write it: `INC-42`, `sev1-2025-03-01`. */
export const IncidentId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'an incident id is 1-64 letters, digits, dots, dashes and underscores, starting with a letter or digit, such as INC-42',
  );

/** `POST /v1/incidents`. */
export const OpenIncidentRequest = z.strictObject({
  id: IncidentId,
  /** A fleet query: the targets it selects hold back every revert while the incident is open. */
  selector: z.string().max(4096),
  reason: z.string().min(1).max(1024),
});
export type OpenIncidentRequest = z.infer<typeof OpenIncidentRequest>;

/** `POST /v1/incidents/{id}/close`: an optional reason. */
export const CloseIncidentRequest = z.strictObject({ reason: z.string().min(1).max(1024).optional() });
export type CloseIncidentRequest = z.infer<typeof CloseIncidentRequest>;

/** `GET /v1/incidents?state=`: open ones unless asked otherwise. */
export const IncidentListQuery = z.strictObject({ state: z.enum(['open', 'closed', 'all']).default('open') });
export type IncidentListQuery = z.infer<typeof IncidentListQuery>;

export const Incident = z.object({
  id: IncidentId,
  /** The canonical fleet query; empty selects every target. */
  selector: z.string(),
  reason: z.string(),
  state: z.enum(['open', 'closed']),
  openedAt: Timestamp,
  openedBy: Actor,
  closedAt: Timestamp.optional(),
  closedBy: Actor.optional(),
  closeReason: z.string().optional(),
});
export type Incident = z.infer<typeof Incident>;

export const IncidentList = z.object({ items: z.array(Incident) });
export type IncidentList = z.infer<typeof IncidentList>;

/** What opening or closing did: the incident, and the targets whose envelopes were signed again. */
export const IncidentChange = z.object({
  incident: Incident,
  targets: z.array(TargetId),
});
export type IncidentChange = z.infer<typeof IncidentChange>;
