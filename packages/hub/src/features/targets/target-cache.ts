import type { TargetStatus } from '@flotilla/protocol';
import type { TargetStore } from './target-store.ts';

/** What the check-in path needs to know about a target, held in memory. */
export interface TargetState {
  readonly id: string;
  readonly status: TargetStatus;
  readonly publicKey: string;
  readonly keyId: string;
  readonly generation: number;
  /** The signed envelope as sent on the wire, or undefined before the first assignment. */
  readonly envelopeJson: string | undefined;
  readonly envelopeExpiresAt: number;
  /** The bundles the envelope names: the only ones the target's agent may fetch. */
  readonly digests: ReadonlySet<string>;
  /** Changes whenever the served envelope does: a new generation or a fresh signature. */
  readonly etag: string;
}

/**
 * Read-through, write-through memory of target states. Every writer of a target's status, key
 * or envelope calls `invalidate` after its transaction, so readers never see a stale answer
 * for longer than the write takes.
 */
export class TargetCache {
  private readonly states = new Map<string, TargetState>();
  private readonly store: TargetStore;

  constructor(store: TargetStore) {
    this.store = store;
  }

  get(id: string): TargetState | undefined {
    let state = this.states.get(id);
    if (state === undefined) {
      const record = this.store.serving(id);
      if (record === undefined) return undefined;
      const { envelope } = record;
      state = {
        id: record.id,
        status: record.status,
        publicKey: record.publicKey,
        keyId: record.keyId,
        generation: record.generation,
        envelopeJson: envelope?.json,
        envelopeExpiresAt: envelope === null ? 0 : envelope.expiresAt,
        digests: new Set(envelope?.digests),
        etag: envelope === null ? '"0"' : `"${record.generation}.${envelope.issuedAt.toString(36)}"`,
      };
      this.states.set(id, state);
    }
    return state;
  }

  invalidate(id: string): void {
    this.states.delete(id);
  }
}
