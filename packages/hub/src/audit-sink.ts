import type { Actor } from '@flotilla/protocol';

export interface AuditInput {
  readonly actor: Actor;
  /** A dotted verb: `target.enroll`, `bundle.publish`, `token.issue`. */
  readonly action: string;
  /** The target ids the action touched. */
  readonly subjects: readonly string[];
  readonly outcome: 'success' | 'refused' | 'failure';
  readonly reason?: string;
  readonly details?: Record<string, unknown>;
}

/** Where services write what they did. Appends run inside the caller's transaction. */
export interface AuditSink {
  append(input: AuditInput): unknown;
}

/**
 * An attempt the hub turned away before it could change anything: a bad credential, a forged
 * proof, a role that is not enough. Recorded with outcome `refused`; never holds the secret
 * that was presented.
 */
export interface RefusalInput {
  /** Who the caller claimed to be, or `{ kind, id: 'unknown' }`. */
  readonly actor: Actor;
  readonly action: string;
  /** Target ids concerned, when the caller named a real one. */
  readonly subjects?: readonly string[];
  /** The error code the caller was answered with. */
  readonly reason: string;
  /** The caller's address, as the socket saw it. */
  readonly remote: string;
  readonly details?: Record<string, unknown>;
}

/**
 * Where services report refused attempts. Unlike {@link AuditSink} it may record a flood of
 * identical refusals as one summary entry (see `RefusalRecorder`), because anyone on the
 * network can cause them; and it appends outside any transaction, so the refusal survives
 * the rollback of the request that caused it.
 */
export interface RefusalSink {
  refused(input: RefusalInput): void;
}
