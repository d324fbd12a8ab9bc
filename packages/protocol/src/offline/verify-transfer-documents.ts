import { SignedBundle } from '../documents/bundle.ts';
import { SignedEnvelope, type Envelope } from '../documents/envelope.ts';
import { SignedTrustRoot, type TrustRoot } from '../documents/trust-root.ts';
import { FlotillaError } from '../errors.ts';
import { verifyBundle } from '../verify-bundle.ts';
import { verifyEnvelopeHeader } from '../verify-envelope.ts';
import { verifyTrustRoot } from '../verify-trust-root.ts';
import { transferEntryPath, type TransferEntry, type TransferManifest } from './transfer-manifest.ts';
import { parseJson } from '../bounded-json.ts';

/** The signed documents of a transfer file, parsed from its entries. */
export interface TransferDocuments {
  readonly trustRoots: readonly SignedTrustRoot[];
  readonly envelopes: readonly SignedEnvelope[];
  readonly releases: readonly SignedBundle[];
}

const SCHEMA = { 'trust-root': SignedTrustRoot, envelope: SignedEnvelope, release: SignedBundle } as const;

function invalid(entry: string, message: string): never {
  throw new FlotillaError('TRANSFER_MANIFEST_INVALID', `entry ${entry} ${message}`, { entry });
}

/**
 * Parses the document entries (trust roots, envelopes, releases) of a verified transfer file
 * and checks each is what its path says: the trust-root version, the envelope's target, the
 * release's digest. `read` gives an entry's bytes (from the staging directory, say).
 */
export async function parseTransferDocuments(
  manifest: TransferManifest,
  read: (entry: TransferEntry) => Promise<Uint8Array>,
): Promise<TransferDocuments> {
  const trustRoots: SignedTrustRoot[] = [];
  const envelopes: SignedEnvelope[] = [];
  const releases: SignedBundle[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const entry of manifest.entries) {
    if (entry.kind !== 'trust-root' && entry.kind !== 'envelope' && entry.kind !== 'release') continue;
    let value: unknown;
    try {
      value = parseJson(decoder.decode(await read(entry)), entry.path);
    } catch {
      invalid(entry.path, 'is not UTF-8 JSON');
    }
    const parsed = SCHEMA[entry.kind].safeParse(value);
    if (!parsed.success)
      invalid(
        entry.path,
        `is not a ${entry.kind} document: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trimEnd(),
      );
    const document = parsed.data;
    if ('trustRoot' in document) {
      if (transferEntryPath('trust-root', document.trustRoot.version) !== entry.path)
        invalid(entry.path, `holds trust root version ${document.trustRoot.version}`);
      trustRoots.push(document);
    } else if ('envelope' in document) {
      if (transferEntryPath('envelope', document.envelope.targetId) !== entry.path)
        invalid(entry.path, `holds the envelope of target ${document.envelope.targetId}`);
      const listed = manifest.targets.find((t) => t.targetId === document.envelope.targetId);
      if (listed?.generation !== document.envelope.generation)
        invalid(
          entry.path,
          `holds generation ${document.envelope.generation}, but the manifest lists ${listed?.generation ?? 'none'}`,
        );
      envelopes.push(document);
    } else {
      if (transferEntryPath('release', document.digest) !== entry.path)
        invalid(entry.path, `holds release ${document.digest}`);
      releases.push(document);
    }
  }
  return { trustRoots, envelopes, releases };
}

/** What a site knows when it checks a transfer file. */
export interface SiteState {
  /** The trust root the site holds now. */
  readonly trustRoot: TrustRoot;
  readonly targetId: string;
  /** The generation the site applied last; a lower one is a rollback. */
  readonly lastGeneration: number;
  readonly now: Date;
}

/** What a site may act on once a transfer file's documents verified. */
export interface VerifiedTransfer {
  /** The newest trust root, after every version in the file was accepted in turn. */
  readonly trustRoot: TrustRoot;
  /** The trust-root versions the site did not hold yet, oldest first, to store. */
  readonly newTrustRoots: readonly SignedTrustRoot[];
  readonly envelope: SignedEnvelope;
  readonly verifiedEnvelope: Envelope;
  /** The releases the envelope names, by digest. */
  readonly bundles: ReadonlyMap<string, SignedBundle>;
}

/**
 * The checks an online agent makes, made on a file's documents: each trust-root version must
 * be signed by a threshold of the previous one's root keys (versions the site already holds
 * are skipped), then the site's envelope must verify exactly as `verifyEnvelope` verifies an
 * online one (`verifyEnvelopeHeader`, then `verifyBundle` for each release): a hub key of the newest trust root, this target, no rollback, not expired, and
 * every release matching its digest with the release-signature threshold.
 */
export function verifyTransferDocuments(
  manifest: TransferManifest,
  documents: TransferDocuments,
  site: SiteState,
): VerifiedTransfer {
  if (manifest.hubId !== site.trustRoot.hubId) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `the file was made by hub ${manifest.hubId}, but this site trusts hub ${site.trustRoot.hubId}`,
      { entry: 'manifest.json' },
    );
  }
  let trustRoot = site.trustRoot;
  const newTrustRoots: SignedTrustRoot[] = [];
  for (const signed of [...documents.trustRoots].sort((a, b) => a.trustRoot.version - b.trustRoot.version)) {
    if (signed.trustRoot.version <= trustRoot.version) continue;
    const current = trustRoot;
    trustRoot = naming(transferEntryPath('trust-root', signed.trustRoot.version), () =>
      verifyTrustRoot(signed, current),
    );
    newTrustRoots.push(signed);
  }
  const envelope = documents.envelopes.find((e) => e.envelope.targetId === site.targetId);
  if (envelope === undefined) {
    throw new FlotillaError(
      'ENVELOPE_TARGET_MISMATCH',
      `the file carries no envelope for this target ${site.targetId}; it is for ${documents.envelopes.map((e) => e.envelope.targetId).join(', ') || 'no target'}`,
      { targets: documents.envelopes.map((e) => e.envelope.targetId) },
    );
  }
  const offered = new Map(documents.releases.map((r) => [r.digest, r]));
  const verifiedEnvelope = naming(transferEntryPath('envelope', site.targetId), () =>
    verifyEnvelopeHeader(envelope, {
      trustRoot,
      targetId: site.targetId,
      lastGeneration: site.lastGeneration,
      now: site.now,
    }),
  );
  const bundles = new Map<string, SignedBundle>();
  for (const ref of verifiedEnvelope.bundles) {
    const bundle = offered.get(ref.digest);
    if (bundle === undefined) {
      throw new FlotillaError(
        'BUNDLE_MISSING',
        `release ${ref.name}@${ref.version} (${ref.digest}) named by the envelope is not in the file`,
        { entry: transferEntryPath('release', ref.digest) },
      );
    }
    naming(transferEntryPath('release', ref.digest), () => verifyBundle(bundle, ref, trustRoot));
    bundles.set(ref.digest, bundle);
  }
  return { trustRoot, newTrustRoots, envelope, verifiedEnvelope, bundles };
}

/** Runs a check and adds the entry it concerns to the details of its error. */
function naming<T>(entry: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof FlotillaError) throw new FlotillaError(error.code, error.message, { ...error.details, entry });
    throw error;
  }
}
