import { z } from 'zod';
import { FlotillaError } from '../errors.ts';
import { parseJson } from '../bounded-json.ts';

/**
 * Provenance as supply chains write it: an in-toto Statement v1 whose predicate is SLSA
 * Provenance v1. Both specs tell consumers to ignore fields they do not know, so the schemas
 * are loose; what Flotilla reads is the subject digests, the builder id and the sources
 * (resolved git dependencies with their commits).
 */

export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';

const DigestSet = z.record(z.string().max(64), z.string().max(256));
const ResourceDescriptor = z.looseObject({
  name: z.string().max(1024).optional(),
  uri: z.string().max(2048).optional(),
  digest: DigestSet.optional(),
});

export const InTotoStatement = z.looseObject({
  _type: z.literal(IN_TOTO_STATEMENT_V1),
  subject: z
    .array(ResourceDescriptor.extend({ digest: DigestSet }))
    .min(1)
    .max(1024),
  predicateType: z.string().max(256),
  predicate: z.unknown().optional(),
});
export type InTotoStatement = z.infer<typeof InTotoStatement>;

export const SlsaProvenance = z.looseObject({
  buildDefinition: z.looseObject({
    buildType: z.string().max(1024),
    externalParameters: z.record(z.string(), z.unknown()),
    resolvedDependencies: z.array(ResourceDescriptor).max(10_000).nullish(),
  }),
  runDetails: z.looseObject({
    builder: z.looseObject({ id: z.string().min(1).max(1024) }),
  }),
});
export type SlsaProvenance = z.infer<typeof SlsaProvenance>;

/** A source the build read: a repository as `host/owner/repo` and the commit it resolved to. */
export interface ProvenanceSource {
  readonly repository: string;
  readonly commit: string;
}

/** What Flotilla takes from a verified provenance statement. */
export interface ProvenanceFacts {
  readonly builderId: string;
  readonly buildType: string;
  readonly sources: readonly ProvenanceSource[];
}

/**
 * A git URI as `host/path`: scheme, `git+`, user, `.git` and an `@ref` suffix dropped, host
 * lowercased. `git+https://github.com/Acme/app.git@refs/heads/main` is `github.com/Acme/app`.
 */
export function normalizeRepository(uri: string): string {
  let rest = uri
    .trim()
    .replace(/^git\+/, '')
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const at = rest.indexOf('@', rest.indexOf('/'));
  if (at !== -1) rest = rest.slice(0, at);
  rest = rest
    .replace(/^[^@/]*@/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  return slash === -1 ? rest.toLowerCase() : `${rest.slice(0, slash).toLowerCase()}${rest.slice(slash)}`;
}

function refuse(reason: string, message: string): FlotillaError {
  return new FlotillaError('ATTESTATION_INVALID', message, { reason });
}

/**
 * Reads a signed payload as an in-toto statement about `subjectDigest` (a Flotilla bundle
 * digest, `sha256:…`) with a SLSA Provenance v1 predicate. The statement must name the
 * bundle among its subjects by its sha256 digest; other digest algorithms are ignored, as
 * the DigestSet rules allow.
 *
 * @throws FlotillaError `ATTESTATION_INVALID` with `details.reason`: `statement`, `subject` or `predicate`.
 */
export function readProvenance(payload: Uint8Array, subjectDigest: string): ProvenanceFacts {
  let json: unknown;
  try {
    json = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(payload), 'the attestation payload');
  } catch {
    throw refuse('statement', 'the attestation payload is not UTF-8 JSON');
  }
  const statement = InTotoStatement.safeParse(json);
  if (!statement.success)
    throw refuse(
      'statement',
      `the attestation payload is not an in-toto Statement v1: ${statement.error.issues[0]?.message ?? 'invalid'}`,
    );
  const hex = subjectDigest.replace(/^sha256:/, '');
  if (!statement.data.subject.some((subject) => subject.digest['sha256']?.toLowerCase() === hex)) {
    throw refuse(
      'subject',
      `the statement's subjects do not include the release (sha256 ${hex.slice(0, 12)}…); it attests another artifact`,
    );
  }
  if (statement.data.predicateType !== SLSA_PROVENANCE_V1)
    throw refuse(
      'predicate',
      `the statement's predicate type is '${statement.data.predicateType}'; expected ${SLSA_PROVENANCE_V1}`,
    );
  const predicate = SlsaProvenance.safeParse(statement.data.predicate);
  if (!predicate.success)
    throw refuse(
      'predicate',
      `the SLSA provenance predicate is incomplete: ${predicate.error.issues.map((issue) => issue.path.join('.')).join(', ')}`,
    );
  const sources: ProvenanceSource[] = [];
  for (const dependency of predicate.data.buildDefinition.resolvedDependencies ?? []) {
    const commit = dependency.digest?.['gitCommit'] ?? dependency.digest?.['sha1'];
    if (
      dependency.uri !== undefined &&
      commit !== undefined &&
      /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(commit.toLowerCase())
    ) {
      sources.push({ repository: normalizeRepository(dependency.uri), commit: commit.toLowerCase() });
    }
  }
  return {
    builderId: predicate.data.runDetails.builder.id,
    buildType: predicate.data.buildDefinition.buildType,
    sources,
  };
}
