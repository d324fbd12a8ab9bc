import { canonicalize } from './canonical-json.ts';
import { verifyPayload } from './crypto/keys.ts';
import { FlotillaError } from './errors.ts';
import { driftPolicyDigest } from './documents/drift-policy.ts';
import type { SignedBundle } from './documents/bundle.ts';
import type { Envelope, SignedEnvelope } from './documents/envelope.ts';
import { keysWithRole, type TrustRoot } from './documents/trust-root.ts';
import { verifyBundle } from './verify-bundle.ts';

export interface EnvelopeContext {
  readonly trustRoot: TrustRoot;
  /** The id of the target doing the verifying: an envelope for any other is refused. */
  readonly targetId: string;
  /** The generation last applied; a lower one is a rollback. */
  readonly lastGeneration: number;
  /**
   * The envelope last applied, when there is one: another envelope of its generation must
   * have the same content (see {@link envelopeContent}), or the hub forked history.
   */
  readonly applied?: Envelope | undefined;
  /** The time to judge expiry at. */
  readonly now: Date;
}

/**
 * What an envelope says, as opposed to when it was signed: everything but `issuedAt`,
 * `expiresAt` and `trustRootVersion`. A legitimate re-signing of a generation (a fresh expiry,
 * perhaps under a newer trust root) changes only those and the signature; two envelopes of
 * one generation whose content differs are equivocation. A drift policy inline and the same
 * policy named by its digest say the same: a transfer file carries inline what the hub serves
 * online by digest, for the same generation.
 */
export function envelopeContent(envelope: Envelope): string {
  const {
    issuedAt: _issuedAt,
    expiresAt: _expiresAt,
    trustRootVersion: _trustRootVersion,
    driftPolicy,
    ...content
  } = envelope;
  return canonicalize(
    driftPolicy === undefined ? content : { ...content, driftPolicyDigest: driftPolicyDigest(driftPolicy) },
  );
}

/**
 * The checks an agent makes before it trusts an envelope's header: a known hub key, a valid
 * signature, its own target, no rollback, no second version of the generation it applied,
 * not expired. Bundles are checked separately by
 * {@link verifyEnvelope} once fetched.
 */
export function verifyEnvelopeHeader(signed: SignedEnvelope, ctx: EnvelopeContext): Envelope {
  const { envelope, signature } = signed;
  const key = keysWithRole(ctx.trustRoot, 'hub').find((k) => k.id === signature.keyId);
  if (key === undefined) {
    throw new FlotillaError(
      'ENVELOPE_KEY_UNKNOWN',
      `envelope is signed by key ${signature.keyId}, which trust root v${ctx.trustRoot.version} does not list as a hub key`,
    );
  }
  if (!verifyPayload('envelope', envelope, signature, key.publicKey)) {
    throw new FlotillaError(
      'ENVELOPE_SIGNATURE_INVALID',
      `envelope generation ${envelope.generation} does not verify against hub key ${key.id}`,
    );
  }
  if (envelope.targetId !== ctx.targetId) {
    throw new FlotillaError(
      'ENVELOPE_TARGET_MISMATCH',
      `envelope is for target ${envelope.targetId}, not for this target ${ctx.targetId}`,
    );
  }
  if (envelope.generation < ctx.lastGeneration) {
    throw new FlotillaError(
      'ENVELOPE_ROLLBACK',
      `envelope generation ${envelope.generation} is older than the applied generation ${ctx.lastGeneration}`,
      { generation: envelope.generation, lastGeneration: ctx.lastGeneration },
    );
  }
  const applied = ctx.applied;
  if (
    applied !== undefined &&
    applied.generation === envelope.generation &&
    envelopeContent(applied) !== envelopeContent(envelope)
  ) {
    throw new FlotillaError(
      'ENVELOPE_EQUIVOCATION',
      `the hub signed two different envelopes of generation ${envelope.generation}: this one differs from the one applied in more than its times; the hub forked its history, so the agent keeps what it applied`,
      { generation: envelope.generation },
    );
  }
  if (Date.parse(envelope.expiresAt) <= ctx.now.getTime()) {
    throw new FlotillaError(
      'ENVELOPE_EXPIRED',
      `envelope generation ${envelope.generation} expired at ${envelope.expiresAt}; the hub must issue a fresh one`,
      { expiresAt: envelope.expiresAt },
    );
  }
  return envelope;
}

/** Verifies an envelope and every bundle it names; returns the envelope when all hold. */
export function verifyEnvelope(
  signed: SignedEnvelope,
  ctx: EnvelopeContext & { readonly bundles: ReadonlyMap<string, SignedBundle> },
): Envelope {
  const envelope = verifyEnvelopeHeader(signed, ctx);
  for (const ref of envelope.bundles) {
    const bundle = ctx.bundles.get(ref.digest);
    if (bundle === undefined) {
      throw new FlotillaError(
        'BUNDLE_MISSING',
        `bundle ${ref.name}@${ref.version} (${ref.digest}) named by the envelope was not supplied`,
      );
    }
    verifyBundle(bundle, ref, ctx.trustRoot);
  }
  return envelope;
}
