import { createHash } from 'node:crypto';
import { FlotillaError } from '../errors.ts';

/** What a content-addressed blob claims to be. */
export interface BlobClaim {
  readonly digest: string;
  readonly size: number;
}

/**
 * Passes a blob's bytes through while checking them against its digest and size: a byte past
 * the declared size stops the stream before that chunk is passed on, and a short stream or a
 * wrong digest fails after the last byte, so a consumer that writes what it receives must
 * discard its output when this throws. Errors are OCI_DIGEST_MISMATCH and name `what`.
 */
export async function* verifiedBlob(
  source: AsyncIterable<Uint8Array>,
  claim: BlobClaim,
  what: string,
): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.length;
    if (seen > claim.size) {
      throw new FlotillaError(
        'OCI_DIGEST_MISMATCH',
        `${what} is longer than its declared ${claim.size} bytes; it is not the blob ${claim.digest}`,
        { blob: claim.digest, expected: claim.size },
      );
    }
    hash.update(chunk);
    yield chunk;
  }
  if (seen !== claim.size) {
    throw new FlotillaError(
      'OCI_DIGEST_MISMATCH',
      `${what} has ${seen} bytes, but ${claim.size} were declared; it is not the blob ${claim.digest}`,
      { blob: claim.digest, expected: claim.size, actual: seen },
    );
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== claim.digest) {
    throw new FlotillaError('OCI_DIGEST_MISMATCH', `${what} hashes to ${actual}, not to its name ${claim.digest}`, {
      blob: claim.digest,
      actual,
    });
  }
}
