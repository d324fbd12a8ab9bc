import { z } from 'zod';
import { Timestamp } from '../documents/common.ts';

/*
 * The dashboard's sign-in (docs/dashboard.md): an operator API token exchanged for a session
 * cookie, and the session as the page reads it.
 */

/** `POST /v1/session`. */
export const SignInRequest = z.strictObject({ token: z.string().min(8).max(512) });
export type SignInRequest = z.infer<typeof SignInRequest>;

/** `POST /v1/session` and `GET /v1/session`: who is signed in, and the CSRF token for state-changing calls. */
export const DashboardSession = z.object({
  name: z.string(),
  role: z.enum(['viewer', 'deployer', 'approver', 'admin']),
  csrfToken: z.string(),
  expiresAt: Timestamp,
  /** A scoped token's scope (a fleet query): the session sees only those targets. */
  scope: z.string().optional(),
});
export type DashboardSession = z.infer<typeof DashboardSession>;
