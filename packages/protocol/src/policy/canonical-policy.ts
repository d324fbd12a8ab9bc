import { digestOf } from '../crypto/digest.ts';
import { formatQuery } from '../query/format-query.ts';
import type { Policy } from './policy-document.ts';
import { policyScope } from './parse-policy.ts';

/**
 * A policy in canonical form: its scope written as `formatQuery` writes it and its version
 * left out, so that two documents that mean the same thing are equal whatever their
 * spelling and whichever version the store gave them.
 */
export function canonicalPolicy(policy: Policy): Policy {
  const metadata = { ...policy.metadata };
  delete metadata.version;
  return { ...policy, metadata, spec: { ...policy.spec, scope: formatQuery(policyScope(policy)) } };
}

/**
 * The content address of a policy: the digest of its canonical form. The store keeps it with
 * each version, so applying an unchanged document makes no new version, and an envelope can
 * name exactly which policy text it enforces.
 */
export function policyDigest(policy: Policy): string {
  return digestOf(canonicalPolicy(policy));
}
