import type { TargetStatus } from '@flotilla/protocol';
import type { HubStore } from '../store/hub-store.ts';

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
  private readonly store: HubStore;

  constructor(store: HubStore) {
    this.store = store;
  }

  get(id: string): TargetState | undefined {
    let state = this.states.get(id);
    if (state === undefined) {
      const row = this.store.targetRow(id);
      if (row === undefined) return undefined;
      const envelope = row.envelope === null ? undefined : (JSON.parse(row.envelope) as { envelope: { issuedAt: string; expiresAt: string } });
      state = {
        id: row.id,
        status: row.status,
        publicKey: row.public_key,
        keyId: row.key_id,
        generation: row.desired_generation,
        envelopeJson: row.envelope ?? undefined,
        envelopeExpiresAt: envelope === undefined ? 0 : Date.parse(envelope.envelope.expiresAt),
        etag: envelope === undefined ? '"0"' : `"${row.desired_generation}.${Date.parse(envelope.envelope.issuedAt).toString(36)}"`,
      };
      this.states.set(id, state);
    }
    return state;
  }

  invalidate(id: string): void {
    this.states.delete(id);
  }
}
