import { describe, expect, it } from 'vitest';
import { canonicalize, generateKeyPair, signPayload, type ErrorCode, type SignedBundle } from '../../src/index.ts';
import {
  parseTransferDocuments,
  planTransfer,
  verifyTransferDocuments,
  type TransferContents,
  type TransferEntry,
} from '../../src/offline/index.ts';
import {
  contents,
  envelope,
  hubKey,
  NOW,
  OTHER_TARGET,
  release,
  rootKey,
  signedTrustRoot,
  TARGET,
  trustRoot,
} from './offline-fixture.ts';

const site = { trustRoot: trustRoot(1), targetId: TARGET, lastGeneration: 5, now: NOW };

/** Plans a file and parses its documents back as a site would after extracting it. */
async function documentsOf(
  input: TransferContents,
  change: (entry: TransferEntry, bytes: Uint8Array) => Uint8Array = (_e, b) => b,
) {
  const { signed, entries } = planTransfer(input, hubKey);
  const bytes = new Map(entries.map((p) => [p.entry.path, 'bytes' in p.body ? p.body.bytes : new Uint8Array()]));
  const documents = await parseTransferDocuments(signed.manifest, async (entry) =>
    change(entry, bytes.get(entry.path)!),
  );
  return { manifest: signed.manifest, documents };
}

async function refusal(input: TransferContents, code: ErrorCode, entry?: string, state = site): Promise<void> {
  const { manifest, documents } = await documentsOf(input);
  let error: unknown;
  try {
    verifyTransferDocuments(manifest, documents, state);
  } catch (caught) {
    error = caught;
  }
  expect(error).toMatchObject({ code });
  if (entry !== undefined) expect(error).toMatchObject({ details: { entry } });
}

describe('the documents of a transfer file', () => {
  it('verify as an online envelope would: the trust-root chain, the envelope, its releases', async () => {
    const { manifest, documents } = await documentsOf(contents({ images: undefined }));
    const verified = verifyTransferDocuments(manifest, documents, site);
    expect(verified.trustRoot.version).toBe(3);
    expect(verified.newTrustRoots.map((r) => r.trustRoot.version)).toEqual([2, 3]);
    expect(verified.verifiedEnvelope.generation).toBe(7);
    expect([...verified.bundles.values()].map((b) => b.bundle.name).sort()).toEqual(['app', 'db']);
  });

  it('skip trust-root versions the site already holds', async () => {
    const { manifest, documents } = await documentsOf(contents({ images: undefined }));
    const verified = verifyTransferDocuments(manifest, documents, { ...site, trustRoot: trustRoot(2) });
    expect(verified.newTrustRoots.map((r) => r.trustRoot.version)).toEqual([3]);
  });

  it('accept the generation the site already applied again (importing a file twice changes nothing)', async () => {
    const { manifest, documents } = await documentsOf(contents({ images: undefined }));
    expect(
      verifyTransferDocuments(manifest, documents, { ...site, lastGeneration: 7 }).verifiedEnvelope.generation,
    ).toBe(7);
  });
});

describe('the documents of a transfer file are refused', () => {
  const app = release('app', '4.2.0');

  it('when the file carries no envelope for this target (an envelope for another target)', async () => {
    await refusal(
      contents({ envelopes: [envelope(OTHER_TARGET, 7, [app])], releases: [app], images: undefined }),
      'ENVELOPE_TARGET_MISMATCH',
    );
  });

  it('when the envelope is older than the generation the site applied (a rollback)', async () => {
    await refusal(
      contents({ envelopes: [envelope(TARGET, 4, [app])], releases: [app], images: undefined }),
      'ENVELOPE_ROLLBACK',
      'envelopes/tgt_00000000000000000001.json',
    );
  });

  it('when the envelope has expired', async () => {
    const expired = envelope(TARGET, 7, [app], { expiresAt: new Date(NOW.getTime() - 1000).toISOString() });
    await refusal(
      contents({ envelopes: [expired], releases: [app], images: undefined }),
      'ENVELOPE_EXPIRED',
      'envelopes/tgt_00000000000000000001.json',
    );
  });

  it('when the envelope is signed by a key that is not a hub key of the trust root', async () => {
    await refusal(
      contents({ envelopes: [envelope(TARGET, 7, [app], {}, generateKeyPair())], releases: [app], images: undefined }),
      'ENVELOPE_KEY_UNKNOWN',
    );
  });

  it('when the envelope was changed after the hub signed it', async () => {
    const signed = envelope(TARGET, 7, [app]);
    const changed = {
      ...signed,
      envelope: { ...signed.envelope, expiresAt: new Date(NOW.getTime() + 1e12).toISOString() },
    };
    await refusal(contents({ envelopes: [changed], releases: [app], images: undefined }), 'ENVELOPE_SIGNATURE_INVALID');
  });

  it('when a trust-root version is not signed by the root keys of the one before', async () => {
    const stranger = generateKeyPair();
    const v2 = {
      ...trustRoot(2),
      keys: [{ id: 'x', publicKey: stranger.publicKey, roles: ['root' as const] }, ...trustRoot(2).keys.slice(1)],
    };
    const forged = { trustRoot: v2, signatures: [signPayload('trust-root', v2, stranger)] };
    await refusal(
      contents({ trustRoots: [forged], images: undefined }),
      'TRUST_ROOT_INVALID',
      'trust-root/000000000002.json',
    );
  });

  it('when a release lacks the release-signature threshold', async () => {
    const unsigned: SignedBundle = { ...app, signatures: [signPayload('bundle', { digest: app.digest }, rootKey)] };
    await refusal(
      contents({ envelopes: [envelope(TARGET, 7, [unsigned])], releases: [unsigned], images: undefined }),
      'BUNDLE_SIGNATURE_THRESHOLD',
      `releases/${app.digest.slice(7)}.json`,
    );
  });

  it('when the file was made by another hub', async () => {
    await refusal(contents({ hubId: 'hub_other', images: undefined }), 'TRUST_ROOT_INVALID', 'manifest.json');
  });

  it('when an entry holds another document than its path says', async () => {
    const db = release('db', '1.0.0');
    const swap = (entry: TransferEntry, bytes: Uint8Array) =>
      entry.kind === 'release' && entry.path.includes(app.digest.slice(7))
        ? new TextEncoder().encode(canonicalize(db))
        : bytes;
    await expect(documentsOf(contents({ images: undefined }), swap)).rejects.toMatchObject({
      code: 'TRANSFER_MANIFEST_INVALID',
      details: { entry: `releases/${app.digest.slice(7)}.json` },
    });
  });

  it('when a trust root holds another version than its path says', async () => {
    const swap = (entry: TransferEntry, bytes: Uint8Array) =>
      entry.path === 'trust-root/000000000002.json'
        ? new TextEncoder().encode(canonicalize(signedTrustRoot(3)))
        : bytes;
    await expect(documentsOf(contents({ images: undefined }), swap)).rejects.toMatchObject({
      code: 'TRANSFER_MANIFEST_INVALID',
      details: { entry: 'trust-root/000000000002.json' },
    });
  });
});
