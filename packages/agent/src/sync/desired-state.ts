import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertUniqueResources,
  digestOf,
  type Envelope,
  FlotillaError,
  parseJson,
  type ReleaseRef,
  type Resource,
  SignedBundle,
  SignedEnvelope,
  type TrustRoot,
  verifyBundle,
  verifyEnvelopeHeader,
  verifyTrustRoot,
  type EnvelopeBundle,
  keysWithRole,
} from '@flotilla/protocol';
import { checkEnvelopePolicy, EnvelopePolicy } from '@flotilla/protocol/policy';
import type { AgentStore, SyncState } from '../agent-state.ts';
import type { HubClient } from '../hub-client.ts';
import { writeJsonAtomic } from '../state-files.ts';

/**
 * An access token when one is needed: fetching a bundle missing from the cache. A pass that
 * finds everything cached, such as an observe pass while the hub is away, never asks.
 */
export type TokenSource = () => Promise<string>;

/** An envelope whose header verified, and the trust root it verified under. */
export interface VerifiedEnvelope {
  readonly signed: SignedEnvelope;
  readonly envelope: Envelope;
  readonly trustRoot: TrustRoot;
}

export interface VerifiedDesiredState extends VerifiedEnvelope {
  readonly resources: Resource[];
}

/**
 * Turns what the hub sent into desired state the agent may apply, or throws a FlotillaError
 * saying why not. Nothing is trusted because the hub sent it: the envelope must carry a valid
 * hub signature for this target, not roll back, not be expired, and every bundle must match
 * its digest and carry the release signatures the trust root requires.
 */
export class DesiredStateVerifier {
  private readonly bundleDir: string;
  private readonly client: Pick<HubClient, 'trustRoot' | 'bundle'>;
  private readonly state: AgentStore;
  private readonly targetId: string;

  /** @param client where trust roots and bundles the agent lacks come from: the hub, or nothing for a transfer file */
  constructor(client: Pick<HubClient, 'trustRoot' | 'bundle'>, state: AgentStore, targetId: string) {
    this.client = client;
    this.state = state;
    this.targetId = targetId;
    this.bundleDir = join(state.dir, 'bundles');
    mkdirSync(this.bundleDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Verifies an envelope the hub sent against what is applied (`appliedGeneration`, and the
   * envelope it came with), walking the trust root forward to the version it names; `now`
   * judges expiry. Its bundles are fetched and checked by {@link resourcesOf}.
   *
   * @param raw the envelope as the hub sent it: its JSON text, parsed here with bounds (a
   *   document nested too deep is refused, not walked), or a value already parsed.
   */
  async verifyHeader(
    raw: unknown,
    applied: Pick<SyncState, 'appliedGeneration' | 'appliedEnvelope'>,
    now: Date,
  ): Promise<VerifiedEnvelope> {
    const parsed = SignedEnvelope.safeParse(
      typeof raw === 'string' ? parseJson(raw, 'the envelope the hub sent') : raw,
    );
    if (!parsed.success)
      throw new FlotillaError(
        'ENVELOPE_SIGNATURE_INVALID',
        `the hub sent an envelope that is not well formed: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    const signed = parsed.data;
    const trustRoot = await this.trustRootFor(signed.envelope.trustRootVersion);
    const envelope = verifyEnvelopeHeader(signed, {
      trustRoot,
      targetId: this.targetId,
      lastGeneration: applied.appliedGeneration,
      applied: applied.appliedEnvelope?.envelope,
      now,
    });
    return { signed, envelope, trustRoot };
  }

  /**
   * The resources of a set of releases, each bundle checked against its digest and signatures.
   * A bundle an envelope names is fetched only up to the length the envelope gives it.
   */
  async resourcesOf(
    refs: readonly (ReleaseRef | EnvelopeBundle)[],
    token: TokenSource,
    trustRoot?: TrustRoot,
  ): Promise<Resource[]> {
    const root = trustRoot ?? (await this.trustRootFor(0));
    const resources: Resource[] = [];
    for (const ref of refs) {
      const bundle = await this.bundle(ref.digest, token, 'size' in ref ? ref.size : undefined);
      verifyBundle(bundle, ref, root);
      resources.push(...bundle.bundle.resources);
    }
    assertUniqueResources(resources);
    return resources;
  }

  /**
   * Checks each policy section the envelope carries (docs/policy.md) for a release not yet in
   * place, at `now` against the trust root the envelope verified under: artifact rules, signed
   * approvals and the change window. A section for a release already applied is not checked
   * again, so a re-signed envelope or a drift change does not re-open a change that landed.
   *
   * @throws FlotillaError `POLICY_REFUSED` naming the policy and the rule.
   */
  async checkPolicy(
    verified: VerifiedEnvelope,
    token: TokenSource,
    applied: readonly ReleaseRef[],
    now: Date,
  ): Promise<void> {
    const inPlace = new Set(applied.map((ref) => ref.digest));
    const sections: EnvelopePolicy[] = [];
    for (const raw of verified.envelope.policy ?? []) {
      const section = EnvelopePolicy.safeParse(raw);
      if (!section.success)
        throw new FlotillaError(
          'POLICY_REFUSED',
          `the envelope's policy section is not well formed: ${section.error.issues[0]?.message ?? 'invalid'}`,
        );
      if (!inPlace.has(section.data.releaseDigest)) sections.push(section.data);
    }
    if (sections.length === 0) return;
    const bundles: SignedBundle[] = [];
    for (const ref of verified.envelope.bundles) {
      const bundle = await this.bundle(ref.digest, token, ref.size);
      verifyBundle(bundle, ref, verified.trustRoot);
      bundles.push(bundle);
    }
    for (const section of sections) checkSection(section, bundles, verified.trustRoot, now);
  }

  /**
   * Puts a bundle into the cache, as a transfer file brings it. The cache is content addressed
   * and `resourcesOf` checks every bundle against its digest and signatures again, so what is
   * put here is trusted no more than what the hub sends.
   */
  seed(bundle: SignedBundle): void {
    writeJsonAtomic(join(this.bundleDir, `${bundle.digest.replace(':', '-')}.json`), bundle);
  }

  /** The pinned trust root, first walked forward version by version to `version` if newer. */
  private async trustRootFor(version: number): Promise<TrustRoot> {
    const pinned = await this.state.trustRoot();
    if (pinned === undefined)
      throw new FlotillaError('TRUST_ROOT_INVALID', 'this agent has no trust root; enroll it again');
    let current = pinned.trustRoot;
    while (current.version < version) {
      const next = await this.client.trustRoot(current.version + 1);
      current = verifyTrustRoot(next, current);
      await this.state.saveTrustRoot(next);
    }
    return current;
  }

  /** A bundle from the local cache or the hub. Content addressing makes the cache safe. */
  private async bundle(digest: string, token: TokenSource, size: number | undefined): Promise<SignedBundle> {
    const path = join(this.bundleDir, `${digest.replace(':', '-')}.json`);
    try {
      const cached = SignedBundle.parse(parseJson(readFileSync(path, 'utf8'), path));
      if (digestOf(cached.bundle) === digest) return cached;
    } catch {
      // Not cached or unreadable: fetch it again.
    }
    const { parsed } = await this.client.bundle(digest, await token(), size);
    // Content addressed and fetched again when lost: no need to wait for the disk.
    writeJsonAtomic(path, parsed, { durable: false });
    return parsed;
  }
}

/** One policy section against the bundles, refusing with the first rule that does not pass. */
function checkSection(section: EnvelopePolicy, bundles: readonly SignedBundle[], root: TrustRoot, now: Date): void {
  const check = checkEnvelopePolicy(
    section,
    bundles,
    {
      approverKeys: keysWithRole(root, 'approver').flatMap((key) =>
        key.name === undefined ? [] : [{ id: key.id, publicKey: key.publicKey, identity: key.name }],
      ),
      releaseKeys: keysWithRole(root, 'release'),
      attestationKeys: root.attestationKeys ?? [],
    },
    now,
  );
  if (check.allowed) return;
  const { refusal } = check;
  throw new FlotillaError(
    'POLICY_REFUSED',
    `policy ${refusal.policy ?? '(release)'} refused rollout ${section.rolloutId}: ${refusal.rule}: ${refusal.message}`,
    {
      rule: refusal.rule,
      kind: refusal.kind,
      ...(refusal.policy === undefined ? {} : { policy: refusal.policy }),
      reasons: check.reasons,
    },
  );
}
