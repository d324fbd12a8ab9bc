import type { SignedEnvelope, TargetStatus } from '@flotilla/protocol';
import { servedEnvelope, type ServedEnvelope, type TargetStore } from './target-store.ts';

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
      state = stateOf(record, record.generation, record.envelope);
      this.states.set(id, state);
    }
    return state;
  }

  invalidate(id: string): void {
    this.states.delete(id);
  }

  /**
   * After the transaction that wrote the target's new envelope committed: serves `envelope` from
   * `json`, the bytes written, without reading them back (a rollout's 18,000 agents fetch theirs right after).
   * Status and key stay as held, since every writer of those invalidates after its own commit;
   * a target not held is read through at its next use, as after {@link invalidate}.
   */
  issued(id: string, generation: number, json: string, envelope: SignedEnvelope): void {
    const held = this.states.get(id);
    if (held !== undefined) this.states.set(id, stateOf(held, generation, servedEnvelope(json, envelope)));
  }
}

/** The state served for a target: one function for states read from the store and states written through, so they cannot differ. */
function stateOf(
  target: Pick<TargetState, 'id' | 'status' | 'publicKey' | 'keyId'>,
  generation: number,
  envelope: ServedEnvelope | null,
): TargetState {
  return {
    id: target.id,
    status: target.status,
    publicKey: target.publicKey,
    keyId: target.keyId,
    generation,
    envelopeJson: envelope?.json,
    envelopeExpiresAt: envelope === null ? 0 : envelope.expiresAt,
    digests: new Set(envelope?.digests),
    etag: envelope === null ? '"0"' : `"${generation}.${envelope.issuedAt.toString(36)}"`,
  };
}
