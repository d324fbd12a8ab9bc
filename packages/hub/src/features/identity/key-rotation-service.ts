import { assertUsablePublicKey, FlotillaError, keyIdOf, verifyPayload, type TargetStatus } from '@flotilla/protocol';
import type { KeyRotationRequest, KeyRotationResponse } from '@flotilla/protocol/api';
import type { AuditSink, RefusalSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { TargetCredentials } from './identity-service.ts';
import type { RetiredKey } from './retired-key-store.ts';

const ROTATION_SKEW_MS = 5 * 60_000;

/** The target records a rotation reads and rebinds (the targets feature). */
export interface RotatableTargets {
  byPublicKey(publicKey: string): { readonly id: string; readonly status: TargetStatus } | undefined;
  setKey(id: string, publicKey: string, keyId: string): void;
}

/** Where the keys a target rotated away from are kept (retired-key-store.ts). */
export interface KeyHistory {
  retire(targetId: string, key: RetiredKey): void;
}

/** The highest report seq the hub holds for a target (the reports feature). */
export interface ReportSeqs {
  highest(targetId: string): { readonly seq: number };
}

export interface KeyRotationServiceDeps {
  readonly tx: Transactions;
  readonly targets: RotatableTargets;
  readonly history: KeyHistory;
  readonly reports: ReportSeqs;
  readonly credentials: TargetCredentials;
  readonly audit: AuditSink;
  readonly refusals: RefusalSink;
  readonly clock: Clock;
}

/**
 * Agent key rotation: an agent proves it holds both its current key and a new one, and the hub
 * binds the new key to the same target id. The old key stops working at once: access tokens are
 * bound to a key id, and every request checks it against the target's key. In the same
 * transaction the old key goes into the target's key history, bound to the reports from before
 * the rotation (up to the last the hub holds, since the agent rotates with its journal sent):
 * reports files carried across an air gap may still hold reports it signed.
 *
 * A rotation is repeatable, so that an agent that lost the answer (or died before it saved its
 * new key) can send it again: when the target already holds the new key, a request that the new
 * key signed is answered as a success without a change.
 */
export class KeyRotationService {
  private readonly deps: KeyRotationServiceDeps;

  constructor(deps: KeyRotationServiceDeps) {
    this.deps = deps;
  }

  rotate(targetId: string, request: KeyRotationRequest, remote: string): KeyRotationResponse {
    const { tx, targets, history, reports, credentials, audit, refusals, clock } = this.deps;
    const { rotation } = request;
    const now = clock();
    const refuse = (error: FlotillaError): never => {
      refusals.refused({
        actor: { kind: 'agent', id: state === undefined ? 'unknown' : state.id },
        action: 'target.rotate-key',
        subjects: state === undefined ? [] : [state.id],
        reason: error.code,
        remote,
        details: { message: error.message },
      });
      throw error;
    };
    const state = credentials.get(targetId);
    if (state === undefined) return refuse(new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`));
    if (rotation.targetId !== targetId)
      return refuse(
        new FlotillaError(
          'FORBIDDEN',
          `the rotation is for target ${rotation.targetId}, but was sent for target ${targetId}`,
        ),
      );
    try {
      assertUsablePublicKey(rotation.newPublicKey, 'new key');
    } catch (error) {
      return refuse(error as FlotillaError);
    }
    if (!verifyPayload('key-rotation', rotation, request.newSignature, rotation.newPublicKey))
      return refuse(new FlotillaError('PROOF_INVALID', 'the rotation is not signed by the new key it names'));
    const newKeyId = keyIdOf(rotation.newPublicKey);
    const answer = { targetId, keyId: newKeyId, rotatedAt: new Date(now).toISOString() };
    // Already done: the answer of an earlier attempt was lost, or the agent died before it
    // saved its new key. Only the holder of the new key could have signed this, and answering
    // it grants nothing, so neither its age nor the target's status matters.
    if (state.publicKey === rotation.newPublicKey) return answer;
    if (state.status !== 'active')
      return refuse(
        new FlotillaError(
          state.status === 'revoked' ? 'TARGET_REVOKED' : 'TARGET_DISABLED',
          `target ${targetId} is ${state.status}; its key cannot be rotated`,
        ),
      );
    if (Math.abs(Date.parse(rotation.issuedAt) - now) > ROTATION_SKEW_MS)
      return refuse(
        new FlotillaError(
          'PROOF_INVALID',
          `the rotation was signed at ${rotation.issuedAt}, more than 5 minutes from the hub's time ${new Date(now).toISOString()}; check the agent's clock`,
        ),
      );
    if (
      rotation.oldKeyId !== state.keyId ||
      !verifyPayload('key-rotation', rotation, request.oldSignature, state.publicKey)
    )
      return refuse(
        new FlotillaError(
          'PROOF_INVALID',
          `the rotation is not signed by the key target ${targetId} holds now (${state.keyId})`,
        ),
      );
    let refusal: FlotillaError | undefined;
    tx.run(() => {
      const holder = targets.byPublicKey(rotation.newPublicKey);
      if (holder !== undefined) {
        refusal = new FlotillaError(
          'CONFLICT',
          `the new key is already bound to target ${holder.id}; generate another`,
        );
        return;
      }
      targets.setKey(targetId, rotation.newPublicKey, newKeyId);
      const untilSeq = reports.highest(targetId).seq;
      history.retire(targetId, { keyId: state.keyId, publicKey: state.publicKey, untilSeq, retiredAt: now });
      audit.append({
        actor: { kind: 'agent', id: targetId },
        action: 'target.rotate-key',
        subjects: [targetId],
        outcome: 'success',
        details: { from: state.keyId, to: newKeyId, remote, fromValidUntilSeq: untilSeq },
      });
    });
    credentials.invalidate(targetId);
    if (refusal !== undefined) return refuse(refusal);
    return answer;
  }
}
