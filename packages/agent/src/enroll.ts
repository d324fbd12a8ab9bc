import {
  FlotillaError,
  keyIdOf,
  keysWithRole,
  sha256,
  signPayload,
  verifyTrustRoot,
  type TrustRoot,
} from '@flotilla/protocol';
import type { AgentStore, Enrollment } from './agent-state.ts';
import type { HubClient } from './hub-client.ts';

interface EnrollOptions {
  readonly enrollToken?: string | undefined;
  readonly name?: string | undefined;
  /**
   * The id of a root key (`flotilla keys ls`, 16 hex digits) the trust root answered at
   * enrollment must contain. Without it the agent trusts the first trust root it is given.
   */
  readonly trustRootPin?: string | undefined;
  readonly now: () => number;
}

/** True when `pin` names one of the trust root's root keys, by key id or by public key. */
export function trustRootMatchesPin(trustRoot: TrustRoot, pin: string): boolean {
  const wanted = pin.trim().toLowerCase();
  return keysWithRole(trustRoot, 'root').some(
    (key) => keyIdOf(key.publicKey) === wanted || key.publicKey === pin.trim(),
  );
}

/**
 * Enrolls once: proves possession of the agent's key with the enrollment token, then keeps
 * the target id and the trust root the hub answered with. Later starts reuse both.
 */
export async function ensureEnrolled(
  client: HubClient,
  state: AgentStore,
  options: EnrollOptions,
): Promise<Enrollment> {
  const existing = await state.enrollment();
  if (existing !== undefined && (await state.trustRoot()) !== undefined) return existing;
  if (options.enrollToken === undefined) {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `this agent is not enrolled yet (no enrollment in ${state.location}); pass --enroll-token`,
    );
  }
  const key = await state.keyPair();
  const issuedAt = new Date(options.now()).toISOString();
  const proof = signPayload(
    'enroll',
    { publicKey: key.publicKey, tokenDigest: sha256(options.enrollToken), issuedAt },
    key,
  );
  const answer = await client.enroll({
    token: options.enrollToken,
    publicKey: key.publicKey,
    issuedAt,
    proof,
    ...(options.name === undefined ? {} : { name: options.name }),
  });
  const trustRoot = verifyTrustRoot(answer.trustRoot);
  if (trustRoot.hubId !== answer.hubId) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `the hub says it is ${answer.hubId} but sent the trust root of ${trustRoot.hubId}`,
    );
  }
  if (options.trustRootPin !== undefined && !trustRootMatchesPin(trustRoot, options.trustRootPin)) {
    const ids = keysWithRole(trustRoot, 'root')
      .map((k) => keyIdOf(k.publicKey))
      .join(', ');
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `the hub's trust root does not contain the pinned root key ${options.trustRootPin} (its root keys: ${ids}); check the hub URL and the pin (\`flotilla keys ls\` on the hub)`,
    );
  }
  const enrollment: Enrollment = {
    targetId: answer.targetId,
    name: answer.name,
    hubId: answer.hubId,
    audience: answer.audience,
  };
  await state.saveTrustRoot(answer.trustRoot);
  await state.saveEnrollment(enrollment);
  return enrollment;
}
