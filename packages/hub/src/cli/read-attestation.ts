import { readFileSync } from 'node:fs';
import { FlotillaError, parseJson } from '@flotilla/protocol';
import { Attestation } from '@flotilla/protocol/policy';

/**
 * An attestation file as supply chains write it: a bare DSSE envelope (`cosign attest`,
 * SLSA builders' `.intoto.json`), a Sigstore bundle (`.sigstore.json`, told apart by its
 * `mediaType`), or Flotilla's own `{ format, … }` form. Read strictly, so a file that is
 * none of these stops the publish with the file's name.
 */
export function readAttestationFile(file: string): Attestation {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new FlotillaError('CONFIG_INVALID', `cannot read the attestation file ${file}`);
  }
  const value = parseJson(text.trim(), file) as Record<string, unknown> | null;
  const wrapped =
    typeof value !== 'object' || value === null || 'format' in value
      ? value
      : 'mediaType' in value
        ? { format: 'sigstore-bundle', bundle: value }
        : { format: 'dsse', envelope: value };
  const parsed = Attestation.safeParse(wrapped);
  if (!parsed.success)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `${file} is neither a DSSE envelope nor a Sigstore bundle: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  return parsed.data;
}
