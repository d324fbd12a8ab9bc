/*
 * How large a body may be, in bytes, where it crosses between hub and agent. The hub refuses a
 * larger request; the agent stops reading a larger answer at the same figure and says which cap
 * it hit, so a hub that lies cannot make an agent read without end.
 */

const MIB = 1024 * 1024;

/** A signed bundle: the most the hub accepts at `POST /v1/bundles`, so the most an agent reads of one. */
export const BUNDLE_MAX_BYTES = 16 * MIB;

/**
 * A signed envelope. The hub builds it from parts it accepted at 1 MiB each at most (the drift
 * policy, a revert request, incident reasons) and 256 release references; 8 MiB leaves room.
 */
export const ENVELOPE_MAX_BYTES = 8 * MIB;

/**
 * A drift policy an envelope names by digest, as the hub serves it (canonical JSON): the hub
 * refuses to set a longer one at `PUT /v1/drift-policy`.
 */
export const DRIFT_POLICY_MAX_BYTES = MIB;

/** A signed trust root: the most the hub accepts at `POST /v1/trust-roots`. */
export const TRUST_ROOT_MAX_BYTES = MIB;

/** An enrollment answer: the trust root and a few names. */
export const ENROLL_ANSWER_MAX_BYTES = 2 * MIB;

/** Every other answer: access tokens, report receipts, errors. */
export const ANSWER_MAX_BYTES = MIB;

/** A byte count as people read it: `16 MiB`, `512 KiB`, `300 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
