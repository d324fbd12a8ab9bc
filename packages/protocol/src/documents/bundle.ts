import { z } from 'zod';
import { ApiVersion, Digest, Name } from './common.ts';
import { Resource } from './resource.ts';
import { Signature } from '../crypto/keys.ts';

const Provenance = z.strictObject({
  source: z.string().max(512).optional(),
  commit: z.string().max(128).optional(),
  builder: z.string().max(256).optional(),
});

/**
 * What a workload asks of the targets it lands on (its release requirements); placement
 * matches it against target properties and facts (see docs/policy.md). Every field is
 * optional, so a bundle that leaves one out keeps the digest it had before the field existed.
 */
export const Placement = z.strictObject({
  workloadClass: z.string().max(64).optional(),
  capabilities: z.array(z.string().max(128)).max(64).optional(),
  regions: z.array(z.string().max(64)).max(64).optional(),
  /** The lowest Kubernetes version the workload runs on, such as `1.29`. */
  minKubernetesVersion: z
    .string()
    .regex(/^v?\d+(\.\d+){0,2}$/, 'a Kubernetes version is 1 to 3 numbers, such as 1.29 or v1.29.3')
    .optional(),
  /** Certifications the target must hold, such as `iso27001` or `fedramp-moderate`. */
  certifications: z.array(z.string().max(128)).max(64).optional(),
});
export type Placement = z.infer<typeof Placement>;

/** The signed content of a release: its digest is the digest of this object's canonical form. */
export const Bundle = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('Bundle'),
  name: Name,
  version: z
    .string()
    .regex(
      /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/,
      'a version is up to 64 letters, digits, dots, dashes, pluses and underscores',
    ),
  resources: z.array(Resource).max(10_000),
  provenance: Provenance.optional(),
  placement: Placement.optional(),
});
export type Bundle = z.infer<typeof Bundle>;

export const SignedBundle = z.strictObject({
  digest: Digest,
  bundle: Bundle,
  signatures: z.array(Signature).min(1).max(64),
});
export type SignedBundle = z.infer<typeof SignedBundle>;
