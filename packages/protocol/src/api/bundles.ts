import { z } from 'zod';
import { Digest, Timestamp } from '../documents/common.ts';

/*
 * Releases (bundles): `POST /v1/bundles` takes a `SignedBundle`, `GET /v1/bundles/{digest}`
 * answers one byte for byte, `GET /v1/bundles` lists them.
 */

/** 201 when published now, 200 when the same release was already published. */
export const PublishResult = z.object({
  digest: Digest,
  created: z.boolean(),
});
export type PublishResult = z.infer<typeof PublishResult>;

export const ReleaseListItem = z.object({
  digest: Digest,
  name: z.string(),
  version: z.string(),
  createdAt: Timestamp,
  /** The operator token name that published it. */
  createdBy: z.string(),
});
export type ReleaseListItem = z.infer<typeof ReleaseListItem>;

/** By name, then by age. */
export const ReleaseList = z.object({ items: z.array(ReleaseListItem) });
export type ReleaseList = z.infer<typeof ReleaseList>;
