import { digestOf } from './crypto/digest.ts';
import { signPayload, type KeyPair } from './crypto/keys.ts';
import { assertUniqueResources } from './documents/resource.ts';
import type { Bundle, SignedBundle } from './documents/bundle.ts';

/**
 * Content-addresses a bundle and signs its digest with each release key. Release keys are
 * held by authors, away from the hub: this runs on the author's machine or in CI.
 */
export function signBundle(bundle: Bundle, keys: readonly KeyPair[]): SignedBundle {
  if (keys.length === 0) throw new TypeError('signBundle needs at least one release key');
  assertUniqueResources(bundle.resources);
  const digest = digestOf(bundle);
  return { digest, bundle, signatures: keys.map((key) => signPayload('bundle', { digest }, key)) };
}
