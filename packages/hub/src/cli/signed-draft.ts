import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FlotillaError, keyIdOf, signPayload, type KeyPair, type Signature } from '@flotilla/protocol';

/**
 * Writes a draft that keys sign away from the hub (a trust root, a policy set) whole: to a
 * temporary file beside it, then renamed over it, so a signer interrupted midway never leaves
 * half a file.
 */
export function writeDraftFile(file: string, draft: unknown): void {
  const temporary = join(dirname(file), `.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(temporary, `${JSON.stringify(draft, null, 2)}\n`);
  renameSync(temporary, file);
}

/** The draft's signatures with `key`'s replaced by a fresh one over `payload`: signing twice adds nothing. */
export function withSignature(
  signatures: readonly Signature[],
  purpose: Parameters<typeof signPayload>[0],
  payload: unknown,
  key: KeyPair,
): { readonly keyId: string; readonly signatures: Signature[] } {
  const keyId = keyIdOf(key.publicKey);
  return {
    keyId,
    signatures: [...signatures.filter((s) => s.keyId !== keyId), signPayload(purpose, payload, key)],
  };
}

/** Refuses to publish a draft no key has signed yet, naming the command that signs it. */
export function assertSigned(file: string, signatures: readonly Signature[], signCommand: string): void {
  if (signatures.length === 0)
    throw new FlotillaError('VALIDATION_FAILED', `${file} carries no signature yet; sign it with \`${signCommand}\``);
}
