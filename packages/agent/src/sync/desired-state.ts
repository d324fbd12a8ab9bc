import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertUniqueResources,
  canonicalize,
  digestOf,
  DriftPolicy,
  type Envelope,
  FlotillaError,
  isFlotillaError,
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
  NO_FAULTS,
  sha256,
  type FaultPoints,
} from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import type { AcceptedPolicySet, EnvelopePolicy, Policy, EnvelopeTargetRecord } from '@flotilla/protocol/policy';
import type * as PolicyExports from '@flotilla/protocol/policy';
import type { AgentStore, SyncState } from '../agent-state.ts';
import type { HubClient } from '../hub-client.ts';
import { writeFileAtomic, writeJsonAtomic } from '../state-files.ts';

/**
 * The policy module, loaded when an envelope first carries policy: its schemas, Sigstore and
 * time zone code cost an idle agent memory it needs only then.
 */
type PolicyModule = typeof PolicyExports;

/**
 * How deep a drift policy may nest: its schema reaches 6 levels; the general bound of 256 would
 * let a hostile body make every walk of it deep for nothing.
 */
const DRIFT_POLICY_MAX_DEPTH = 16;

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
  private readonly policyDir: string;
  private readonly client: Pick<HubClient, 'trustRoot' | 'bundle' | 'driftPolicy'>;
  private readonly state: AgentStore;
  private readonly targetId: string;
  private readonly faults: FaultPoints;

  /**
   * @param client where trust roots, bundles and drift policies the agent lacks come from: the hub, or nothing for a transfer file
   * @param faults test-only crash points (`drift-policy:before-rename`)
   */
  constructor(
    client: Pick<HubClient, 'trustRoot' | 'bundle' | 'driftPolicy'>,
    state: AgentStore,
    targetId: string,
    faults: FaultPoints = NO_FAULTS,
  ) {
    this.client = client;
    this.faults = faults;
    this.state = state;
    this.targetId = targetId;
    this.bundleDir = join(state.dir, 'bundles');
    this.policyDir = join(state.dir, 'drift-policies');
    mkdirSync(this.bundleDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.policyDir, { recursive: true, mode: 0o700 });
  }

  /**
   * The drift policy an envelope puts in force: inline (an older hub, a transfer file), the
   * default when it names none, or the one it names by digest, read from the state directory or
   * fetched once from the hub and saved there. What is fetched must hash to the digest (which the
   * envelope's signature covers) and read strictly as a policy before it is saved or used; only
   * the policies of the envelope applied and of this one are kept.
   *
   * @throws FlotillaError `DRIFT_POLICY_DIGEST_MISMATCH` or `DRIFT_POLICY_INVALID` for what the
   *   hub served, `BODY_TOO_LARGE` or `JSON_TOO_DEEP` for a body past the bounds, and
   *   `DRIFT_POLICY_UNKNOWN` when the hub has no policy of that digest.
   */
  async driftPolicyOf(envelope: Envelope, token: TokenSource): Promise<DriftPolicy> {
    const digest = envelope.driftPolicyDigest;
    if (digest === undefined) return envelope.driftPolicy ?? defaultDriftPolicy;
    const path = this.policyPath(digest);
    const saved = readSaved(path);
    if (saved !== undefined && sha256(saved) === digest) return readDriftPolicy(saved, digest);
    const text = await this.client.driftPolicy(digest, await token());
    if (sha256(text) !== digest)
      throw new FlotillaError(
        'DRIFT_POLICY_DIGEST_MISMATCH',
        `the hub served drift policy ${digest} as bytes that hash to ${sha256(text)}; nothing of it is used`,
        { digest },
      );
    const policy = readDriftPolicy(text, digest);
    writeFileAtomic(path, text, { beforeRename: () => this.faults.reach('drift-policy:before-rename') });
    await this.keepPoliciesOf([digest]);
    return policy;
  }

  /** Removes the saved drift policies that neither the applied envelope nor `also` name. */
  private async keepPoliciesOf(also: readonly string[]): Promise<void> {
    const applied = (await this.state.sync()).appliedEnvelope?.envelope.driftPolicyDigest;
    const kept = new Set([...also, ...(applied === undefined ? [] : [applied])].map((d) => this.policyPath(d)));
    for (const name of readdirSync(this.policyDir)) {
      const path = join(this.policyDir, name);
      if (!kept.has(path)) rmSync(path, { force: true });
    }
  }

  private policyPath(digest: string): string {
    return join(this.policyDir, `${digest.replace(':', '-')}.json`);
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
   * Checks the policy of each release the envelope brings that is not yet in place, at `now`
   * against the trust root the envelope verified under (docs/policy.md): artifact rules,
   * signed approvals and the change window, from the policy sections the hub wrote and, when
   * the envelope carries a signed policy set, from every policy of the set whose scope selects
   * this target, whatever sections the hub wrote. A release already in place is not checked
   * again, so a re-signed envelope or a drift change does not re-open a change that landed.
   *
   * @returns the policy set accepted, for the caller to persist as the floor of later ones.
   * @throws FlotillaError `POLICY_REFUSED` naming the policy and the rule.
   */
  async checkPolicy(
    verified: VerifiedEnvelope,
    token: TokenSource,
    sync: Pick<SyncState, 'appliedReleases' | 'policySet'>,
    now: Date,
  ): Promise<AcceptedPolicySet | undefined> {
    const { envelope, trustRoot } = verified;
    const inPlace = new Set(sync.appliedReleases.map((ref) => ref.digest));
    const arriving = envelope.bundles.filter((ref) => !inPlace.has(ref.digest));
    if (arriving.length === 0) return undefined;
    if (
      (envelope.policy ?? []).length === 0 &&
      envelope.policySet === undefined &&
      trustRoot.requirePolicySets !== true
    )
      return undefined;
    const policy = await import('@flotilla/protocol/policy');
    const sections = new Map<string, EnvelopePolicy>();
    for (const raw of envelope.policy ?? []) {
      const section = policy.EnvelopePolicy.safeParse(raw);
      if (!section.success)
        throw new FlotillaError(
          'POLICY_REFUSED',
          `the envelope's policy section is not well formed: ${section.error.issues[0]?.message ?? 'invalid'}`,
          { rule: 'policy', kind: 'policy-set' },
        );
      sections.set(section.data.releaseDigest, section.data);
    }
    const set = this.policySetOf(policy, envelope, trustRoot, sync.policySet);
    const checked: EnvelopePolicy[] = [];
    for (const ref of arriving) {
      const section = sections.get(ref.digest);
      const governing = set === undefined ? [] : set.governing;
      if (governing.length === 0) {
        if (section !== undefined) checked.push(section);
        continue;
      }
      const base = section ?? {
        rolloutId: '(no rollout)',
        author: '(unknown)',
        releaseDigest: ref.digest,
        rules: [],
        approvals: [],
        attestations: [],
      };
      const signedRules = policy.buildEnvelopePolicy(governing, { properties: set!.record.properties }, base).rules;
      const carried = new Set(signedRules.map((rules) => canonicalize(rules)));
      checked.push({ ...base, rules: [...signedRules, ...base.rules.filter((r) => !carried.has(canonicalize(r)))] });
    }
    if (checked.length > 0) {
      const bundles: SignedBundle[] = [];
      for (const ref of envelope.bundles) {
        const bundle = await this.bundle(ref.digest, token, ref.size);
        verifyBundle(bundle, ref, trustRoot);
        bundles.push(bundle);
      }
      for (const section of checked) checkSection(policy, section, bundles, trustRoot, now);
    }
    return set?.accepted;
  }

  /**
   * The envelope's signed policy set, verified against the trust root and the set accepted
   * before, and the policies of it that govern this target by the record the hub signed with
   * it. Without a set: nothing, unless the trust root requires sets.
   */
  private policySetOf(
    policy: PolicyModule,
    envelope: Envelope,
    root: TrustRoot,
    accepted: AcceptedPolicySet | undefined,
  ): { governing: Policy[]; record: EnvelopeTargetRecord; accepted: AcceptedPolicySet } | undefined {
    if (envelope.policySet === undefined) {
      if (root.requirePolicySets === true)
        throw new FlotillaError(
          'POLICY_REFUSED',
          `trust root v${root.version} requires a signed policy set, and the envelope of generation ${envelope.generation} carries none`,
          { rule: 'policySet.missing', kind: 'policy-set' },
        );
      return undefined;
    }
    const signed = policy.SignedPolicySet.safeParse(envelope.policySet);
    const record = policy.EnvelopeTargetRecord.safeParse(envelope.target);
    if (!signed.success || !record.success)
      throw new FlotillaError(
        'POLICY_REFUSED',
        `the envelope's policy set or target record is not well formed: ${(signed.error ?? record.error)?.issues[0]?.message ?? 'invalid'}`,
        { rule: 'policySet.malformed', kind: 'policy-set' },
      );
    const set = policy.verifyPolicySet(signed.data, root, accepted);
    return {
      governing: policy.policiesForTarget(set, this.targetId, record.data, new Date(Date.parse(envelope.issuedAt))),
      record: record.data,
      accepted: { version: set.version, digest: policy.policySetDigest(set) },
    };
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

/** A saved file's text, or undefined when there is none to read. */
function readSaved(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A drift policy's text, which hashed to `digest`, read with bounds and strictly. */
function readDriftPolicy(text: string, digest: string): DriftPolicy {
  const what = `drift policy ${digest}`;
  const invalid = (problem: string): FlotillaError =>
    new FlotillaError('DRIFT_POLICY_INVALID', `${what} is not a drift policy this agent can read: ${problem}`, {
      digest,
    });
  let value: unknown;
  try {
    value = parseJson(text, what, { maxDepth: DRIFT_POLICY_MAX_DEPTH });
  } catch (error) {
    if (isFlotillaError(error, 'BAD_REQUEST')) throw invalid(error.message);
    throw error;
  }
  const parsed = DriftPolicy.safeParse(value);
  if (!parsed.success) throw invalid(parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

/** One policy section against the bundles, refusing with the first rule that does not pass. */
function checkSection(
  policy: PolicyModule,
  section: EnvelopePolicy,
  bundles: readonly SignedBundle[],
  root: TrustRoot,
  now: Date,
): void {
  const check = policy.checkEnvelopePolicy(
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
