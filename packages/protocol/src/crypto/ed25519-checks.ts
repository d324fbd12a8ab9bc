/**
 * Checks that make Ed25519 verification strict whatever the backend: canonical signatures
 * only (S < L, so a signature cannot be re-encoded into a second valid one) and no public key
 * or R of small order (such a key verifies signatures that anyone can make).
 */

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
]);

// libsodium's list of small-order Edwards y-coordinates, compared with the sign bit cleared.
const SMALL_ORDER_Y: readonly Uint8Array[] = [
  filled(0x00, 0x00, 0x00),
  filled(0x01, 0x00, 0x00),
  Uint8Array.from([
    0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac,
    0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
  ]),
  Uint8Array.from([
    0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53,
    0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
  ]),
  filled(0xec, 0xff, 0x7f),
];

function filled(first: number, fill: number, last: number): Uint8Array {
  const bytes = new Uint8Array(32).fill(fill);
  bytes[0] = first;
  bytes[31] = last;
  return bytes;
}

/** True when the 32-byte little-endian scalar is below the group order L. */
function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! < L[i]!) return true;
    if (s[i]! > L[i]!) return false;
  }
  return false;
}

/** True for an encoded point of small order, or one whose y is not reduced mod p. */
export function isWeakPoint(point: Uint8Array): boolean {
  const y = Uint8Array.from(point);
  y[31]! &= 0x7f;
  // y >= p = 2^255 - 19 is a non-canonical encoding (it covers p and p + 1, aliases of 0 and 1).
  let unreduced = y[31] === 0x7f && y[0]! >= 0xed;
  for (let i = 1; unreduced && i < 31; i++) unreduced = y[i] === 0xff;
  if (unreduced) return true;
  return SMALL_ORDER_Y.some((bad) => bad.every((b, i) => b === y[i]));
}

/** Why a key or signature is refused before any curve arithmetic, or undefined if it passes. */
export function precheck(
  publicKey: Uint8Array,
  signature: Uint8Array,
): 'key-length' | 'signature-length' | 'weak-key' | 'non-canonical' | 'weak-r' | undefined {
  if (publicKey.length !== 32) return 'key-length';
  if (signature.length !== 64) return 'signature-length';
  if (isWeakPoint(publicKey)) return 'weak-key';
  if (!isCanonicalScalar(signature.subarray(32))) return 'non-canonical';
  if (isWeakPoint(signature.subarray(0, 32))) return 'weak-r';
  return undefined;
}
