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
