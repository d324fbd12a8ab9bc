import type { Logger } from 'pino';
import { generateKeyPair, keyIdOf, messageOf, signPayload } from '@flotilla/protocol';
import type { KeyRotation as RotationPayload, KeyRotationResponse } from '@flotilla/protocol/api';
import type { AgentStore } from './agent-state.ts';
import { isRetryable, type HubClient } from './hub-client.ts';

const DAY_MS = 86_400_000;

export interface KeyRotationOptions {
  readonly client: HubClient;
  readonly store: AgentStore;
  readonly targetId: string;
  /** Rotate once the key is this old; 0 rotates only on demand. */
  readonly intervalMs: number;
  readonly clock: () => number;
  readonly log: Logger;
}

/** The rotation interval of `days` days, as the options take it. */
export function rotationIntervalMs(days: number): number {
  return days * DAY_MS;
}

/**
 * Marks a rotation as asked for (`flotilla-agent rotate-key`): the agent using this store rotates
 * its key at its next turn, or at its next start.
 */
export async function requestKeyRotation(store: AgentStore, now: number): Promise<void> {
  const state = (await store.keyRotation()) ?? { keySince: new Date(now).toISOString(), pending: null };
  await store.saveKeyRotation({ ...state, requested: true });
}

/**
 * Agent key rotation (docs/security.md): the agent makes a new key pair, keeps it as pending,
 * and asks the hub to bind it to its target with a request signed by the current key and the
 * new one; once the hub says yes, the new key replaces the current one.
 *
 * Every step leaves a working identity: before the hub has the new key, the current one still
 * works and the pending one is offered again at the next turn; once the hub has it, the same
 * request sent again is answered as done (the hub rotates idempotently) and the agent saves the
 * new key. The agent rotates only between passes with its report journal flushed, so no report
 * signed by the old key waits to be sent after the hub stopped accepting it.
 */
export class KeyRotation {
  private readonly options: KeyRotationOptions;

  constructor(options: KeyRotationOptions) {
    this.options = options;
  }

  /**
   * Rotates when a rotation is pending, asked for, or due by the schedule. True when the key
   * changed: whatever holds the old key (credentials, the report journal) must be made anew.
   * A hub that is away leaves the rotation pending for the next turn. A refusal drops the
   * pending key (the hub answers a rotation it already made as done, so a refused one was not
   * made) and waits a full interval: the current key stays in use, and syncing goes on.
   */
  async rotateIfDue(): Promise<boolean> {
    const { store, clock, intervalMs, log } = this.options;
    const now = clock();
    let state = await store.keyRotation();
    if (state === undefined) {
      // The first turn of an agent enrolled before rotation existed: its key counts from now.
      state = { keySince: new Date(now).toISOString(), pending: null, requested: false };
      await store.saveKeyRotation(state);
    }
    const current = await store.keyPair();
    if (state.pending !== null && state.pending.publicKey === current.publicKey) {
      // A store that wrote the key, and died before it wrote that the rotation was over.
      await store.saveKeyRotation({ ...state, pending: null, requested: false });
      return false;
    }
    const due = intervalMs > 0 && now - Date.parse(state.keySince) >= intervalMs;
    if (state.pending === null && !state.requested && !due) return false;
    let next = state.pending;
    if (next === null) {
      next = generateKeyPair();
      // Kept before the hub hears of it: after a crash the rotation goes on with this key.
      await store.saveKeyRotation({ ...state, pending: next });
    }
    const rotation: RotationPayload = {
      targetId: this.options.targetId,
      oldKeyId: keyIdOf(current.publicKey),
      newPublicKey: next.publicKey,
      issuedAt: new Date(now).toISOString(),
    };
    let answer: KeyRotationResponse;
    try {
      answer = await this.options.client.rotateKey(this.options.targetId, {
        rotation,
        oldSignature: signPayload('key-rotation', rotation, current),
        newSignature: signPayload('key-rotation', rotation, next),
      });
    } catch (error) {
      if (isRetryable(error)) {
        log.warn({ err: messageOf(error) }, 'key rotation waits for the hub');
        return false;
      }
      await store.saveKeyRotation({ keySince: new Date(now).toISOString(), pending: null, requested: false });
      log.error({ err: messageOf(error) }, 'key rotation refused; the current key stays in use');
      return false;
    }
    // A failure from here on leaves the rotation pending: the next turn offers it again, and
    // the hub, which holds the new key already, answers it as done.
    await store.commitKey(next, { keySince: answer.rotatedAt, pending: null, requested: false });
    log.info({ from: rotation.oldKeyId, to: answer.keyId }, 'agent key rotated');
    return true;
  }
}
