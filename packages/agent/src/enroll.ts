import { FlotillaError, sha256, signPayload, verifyTrustRoot } from '@flotilla/protocol';
import type { AgentState, Enrollment } from './agent-state.ts';
import type { HubClient } from './hub-client.ts';

/**
 * Enrolls once: proves possession of the agent's key with the enrollment token, then keeps
 * the target id and the trust root the hub answered with. Later starts reuse both.
 */
export async function ensureEnrolled(client: HubClient, state: AgentState, options: { enrollToken?: string | undefined; name?: string | undefined; now: () => number }): Promise<Enrollment> {
  const existing = state.enrollment();
  if (existing !== undefined && state.trustRoot() !== undefined) return existing;
  if (options.enrollToken === undefined) {
    throw new FlotillaError('CONFIG_INVALID', `this agent is not enrolled yet (no enrollment in ${state.dir}); pass --enroll-token`);
  }
  const key = state.keyPair();
  const issuedAt = new Date(options.now()).toISOString();
  const proof = signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(options.enrollToken), issuedAt }, key);
  const answer = await client.enroll({ token: options.enrollToken, publicKey: key.publicKey, issuedAt, proof, ...(options.name === undefined ? {} : { name: options.name }) });
  const trustRoot = verifyTrustRoot(answer.trustRoot);
  if (trustRoot.hubId !== answer.hubId) {
    throw new FlotillaError('TRUST_ROOT_INVALID', `the hub says it is ${answer.hubId} but sent the trust root of ${trustRoot.hubId}`);
  }
  const enrollment: Enrollment = { targetId: answer.targetId, name: answer.name, hubId: answer.hubId, audience: answer.audience };
  state.saveTrustRoot(answer.trustRoot);
  state.saveEnrollment(enrollment);
  return enrollment;
}
