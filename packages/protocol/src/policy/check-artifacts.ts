import { isImageFromAllowedRegistry, parseImageReference } from '../drift/lib/image-reference.ts';
import type { BlockReason } from './block-reason.ts';
import type { ReleaseFacts } from './inspect-release.ts';
import { compileGlobs, matchesSomeGlob } from './lib/name-glob.ts';
import type { ArtifactRules } from './policy-document.ts';
import type { VerifiedProvenance } from './verify-provenance.ts';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const LISTED = 5;

function sample(items: readonly string[]): string {
  return items.length <= LISTED
    ? items.join(', ')
    : `${items.slice(0, LISTED).join(', ')} and ${items.length - LISTED} more`;
}

function provenanceMismatch(
  rules: NonNullable<ArtifactRules['provenance']>,
  provenance: VerifiedProvenance,
): string | undefined {
  if (rules.signers !== undefined && !provenance.signers.some((signer) => rules.signers!.includes(signer))) {
    return `signed by ${provenance.signers.join(', ')}, none of ${rules.signers.join(', ')}`;
  }
  if (rules.builders !== undefined && !matchesSomeGlob(compileGlobs(rules.builders), provenance.builderId)) {
    return `built by ${provenance.builderId}, not by ${rules.builders.join(', ')}`;
  }
  const repositories = rules.sourceRepositories === undefined ? undefined : compileGlobs(rules.sourceRepositories);
  if (repositories !== undefined || rules.commits !== undefined) {
    const fits = provenance.sources.some(
      (source) =>
        (repositories === undefined || matchesSomeGlob(repositories, source.repository)) &&
        (rules.commits === undefined || rules.commits.includes(source.commit)),
    );
    if (!fits) {
      const found = provenance.sources.map((source) => `${source.repository}@${source.commit.slice(0, 12)}`);
      const wanted = [
        ...(rules.sourceRepositories ?? []),
        ...(rules.commits ?? []).map((commit) => commit.slice(0, 12)),
      ].join(', ');
      return `built from ${found.length === 0 ? 'no recorded source' : found.join(', ')}, not from ${wanted}`;
    }
  }
  return undefined;
}

/**
 * The artifact rules of one policy against a release: every reason it is refused. `policy`
 * names the policy in each reason.
 */
export function checkArtifacts(rules: ArtifactRules, release: ReleaseFacts, policy: string): BlockReason[] {
  const reasons: BlockReason[] = [];
  const block = (rule: string, message: string): void => {
    reasons.push({ kind: 'artifact', rule: `artifacts.${rule}`, policy, message });
  };
  if (rules.allowedRegistries !== undefined) {
    const allowed = compileGlobs(rules.allowedRegistries);
    const outside = release.images
      .filter((image) => !isImageFromAllowedRegistry(image.image, allowed))
      .map((image) => image.image);
    if (outside.length > 0)
      block(
        'allowedRegistries',
        `${sample([...new Set(outside)])} ${outside.length === 1 ? 'comes' : 'come'} from registries outside ${rules.allowedRegistries.join(', ')}`,
      );
  }
  if (rules.requireDigests === true) {
    const unpinned = release.images
      .filter((image) => !DIGEST.test(parseImageReference(image.image)?.digest ?? ''))
      .map((image) => image.image);
    if (unpinned.length > 0)
      block(
        'requireDigests',
        `${sample([...new Set(unpinned)])} ${unpinned.length === 1 ? 'is' : 'are'} not pinned by digest (image@sha256:…)`,
      );
  }
  if (rules.minSignatures !== undefined && release.signers < rules.minSignatures) {
    block(
      'minSignatures',
      `the release carries ${release.signers} distinct valid release signatures; ${rules.minSignatures} are required`,
    );
  }
  if (rules.provenance !== undefined) {
    if (release.provenance.length === 0) {
      const refused = release.refusedAttestations.map((item) => item.message);
      block(
        'provenance',
        refused.length === 0
          ? 'the release has no provenance attestation'
          : `no provenance attestation of the release verifies: ${sample(refused)}`,
      );
    } else {
      const mismatches = release.provenance.map((provenance) => provenanceMismatch(rules.provenance!, provenance));
      if (mismatches.every((mismatch) => mismatch !== undefined))
        block('provenance', `the release's provenance does not match: ${sample(mismatches)}`);
    }
  }
  return reasons;
}
