import { z } from 'zod';
import { Timestamp } from '../documents/common.ts';

/*
 * Operators' API tokens (docs/security.md, "Operators"): a name, a role, an optional scope
 * (a fleet query every route narrows to or refuses) and an optional lifetime. Admins
 * create, list and revoke them; the secret is shown once and stored only as a hash.
 */

export const OperatorRole = z.enum(['viewer', 'deployer', 'approver', 'admin']);
export type OperatorRole = z.infer<typeof OperatorRole>;

/** An API token's id: `tok_` and 16 hex digits. */
export const ApiTokenId = z
  .string()
  .regex(/^tok_[0-9a-f]{16}$/, 'a token id looks like tok_ followed by 16 hex digits');

/** The longest lifetime of an API token: a year. */
export const API_TOKEN_MAX_TTL_SECONDS = 366 * 86_400;

/** `POST /v1/tokens`. */
export const CreateApiTokenRequest = z.strictObject({
  /**
   * Who holds it: the actor of everything done with it, unique among tokens not revoked. A
   * person's token is named as their approver key is registered (`alice@acme.example`), so a
   * rollout's author is recognised among its approvers.
   */
  name: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._@-]{0,127}$/,
      'a token name is 1-128 lowercase letters, digits, dots, dashes, underscores and @, such as ci-deployer or alice@acme.example',
    ),
  role: OperatorRole,
  /** A fleet query; the token sees and changes only the targets it selects. */
  scope: z.string().min(1).max(4096).optional(),
  /** Lifetime in seconds; default: until revoked. */
  ttlSeconds: z.number().int().min(60).max(API_TOKEN_MAX_TTL_SECONDS).optional(),
});
export type CreateApiTokenRequest = z.infer<typeof CreateApiTokenRequest>;

export const ApiToken = z.object({
  id: z.string(),
  name: z.string(),
  role: OperatorRole,
  /** The canonical scope query; absent: the whole fleet. */
  scope: z.string().optional(),
  createdAt: Timestamp,
  /** The name of the token that created it (`admin` for the hub's first). */
  createdBy: z.string(),
  expiresAt: Timestamp.optional(),
  revokedAt: Timestamp.optional(),
});
export type ApiToken = z.infer<typeof ApiToken>;

/** The answer to `POST /v1/tokens`: the record and its secret, shown this once. */
export const CreatedApiToken = ApiToken.extend({ token: z.string() });
export type CreatedApiToken = z.infer<typeof CreatedApiToken>;

/** `GET /v1/tokens`: every token, newest first, revoked and expired ones included. */
export const ApiTokenList = z.object({ items: z.array(ApiToken) });
export type ApiTokenList = z.infer<typeof ApiTokenList>;
