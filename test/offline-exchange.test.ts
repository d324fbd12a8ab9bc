/**
 * The building blocks of the air-gap exchange, end to end with no network between the two
 * sides: the hub exports a transfer file (trust roots, envelope, releases, images from an OCI
 * layout), the file is copied, the site imports it, runs the online checks and pushes the
 * images into its registry (a real one); the agent exports its reports, the hub imports them
 * and answers a receipt, the agent settles it. The hub and agent are not wired to these yet;
 * this test holds the pieces to the contract the wiring will use.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, type SignedReport } from '@flotilla/protocol';
import {
  linkReport,
  OCI_MANIFEST,
  REPORT_CHAIN_GENESIS,
  toSeqRanges,
  type ReportHistory,
} from '@flotilla/protocol/offline';
import {
  credentialsFromSecret,
  exportReportsFile,
  importedImages,
  importReceiptFile,
  importTransferFile,
  OciLayoutWriter,
  pushOciImages,
  RegistryClient,
  verifyImportedTransfer,
} from '../packages/agent/src/offline/index.ts';
import {
  exportTransferFile,
  importReportsFile,
  ociLayoutImages,
  writeReceiptFile,
} from '../packages/hub/src/features/offline/index.ts';
import {
  agentKey,
  agentKeys,
  envelope,
  hubKey,
  hubKeys,
  NOW,
  release,
  report,
  signedTrustRoot,
  TARGET,
  trustRoot,
} from '../packages/protocol/test/offline/offline-fixture.ts';
import { startOciRegistry, type OciRegistry } from './fixtures/oci-registry.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { addTestImage, type TestImage } from './fixtures/test-image.ts';

let work: ReturnType<typeof tempDir>;
let registry: OciRegistry;
let image: TestImage;
const hubSide = () => join(work.path, 'hub');
const siteSide = () => join(work.path, 'site');

beforeAll(async () => {
  work = tempDir('flotilla-airgap-');
  mkdirSync(hubSide());
  mkdirSync(siteSide());
  const writer = await OciLayoutWriter.create(join(hubSide(), 'images'));
  image = await addTestImage(writer, hubSide(), 'registry.example.com/shop/web:2.0.0', 2, 100 * 1024);
  await writer.close();
  registry = await startOciRegistry({ kind: 'token', users: { site: 'pw' } });
});
afterAll(async () => {
  await registry.stop();
  work.remove();
});

/** The hub's report store for the target, in memory. */
function hubReports() {
  const held = new Map<number, SignedReport>();
  const history: ReportHistory = {
    reportDigest: (seq) => (held.has(seq) ? digestOf(held.get(seq)) : undefined),
    missing: (from, to) =>
      toSeqRanges(Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((s) => !held.has(s))),
  };
  return { held, history, accept: (signed: SignedReport) => void held.set(signed.report.seq, signed) };
}

describe('the air-gap exchange, end to end', () => {
  it('carries desired state and images to the site, and the reports back, each exactly once', async () => {
    // Hub: export for the target, with the image its release names.
    const web = release('web', '2.0.0');
    const exported = await exportTransferFile(
      join(hubSide(), 'site-eu-1.flotilla'),
      {
        hubId: 'hub_test',
        createdAt: NOW.toISOString(),
        trustRootSince: 1,
        trustRoots: [signedTrustRoot(2)],
        envelopes: [envelope(TARGET, 7, [web])],
        releases: [web],
        images: await ociLayoutImages(join(hubSide(), 'images'), [image.ref]),
      },
      hubKey,
    );

    // Carried across the gap.
    copyFileSync(exported.path, join(siteSide(), 'inbox.flotilla'));

    // Site: import, check as online, push the images.
    const imported = await importTransferFile(join(siteSide(), 'inbox.flotilla'), {
      hubKeys,
      destination: join(siteSide(), 'imports', 'gen-7'),
    });
    const verified = await verifyImportedTransfer(imported, {
      trustRoot: trustRoot(1),
      targetId: TARGET,
      lastGeneration: 6,
      now: NOW,
    });
    expect(verified.verifiedEnvelope.generation).toBe(7);
    expect(verified.newTrustRoots.map((r) => r.trustRoot.version)).toEqual([2]);
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/basic-auth',
      data: { username: Buffer.from('site').toString('base64'), password: Buffer.from('pw').toString('base64') },
    };
    const client = new RegistryClient({ url: registry.url, credentials: credentialsFromSecret(secret, registry.host) });
    try {
      const pushed = await pushOciImages((await importedImages(imported))!, client);
      expect(pushed).toMatchObject([{ repository: 'shop/web', tag: '2.0.0', digest: image.manifest.digest }]);
      expect((await client.getManifest('shop/web', '2.0.0', [OCI_MANIFEST])).digest).toBe(image.manifest.digest);
    } finally {
      await client.close();
    }

    // Importing the same file again is harmless: same generation, no rollback.
    const again = await importTransferFile(join(siteSide(), 'inbox.flotilla'), {
      hubKeys,
      destination: join(siteSide(), 'imports', 'gen-7-again'),
    });
    expect(
      (
        await verifyImportedTransfer(again, {
          trustRoot: verified.trustRoot,
          targetId: TARGET,
          lastGeneration: 7,
          now: NOW,
        })
      ).verifiedEnvelope.generation,
    ).toBe(7);

    // Site: export the journaled reports.
    const journal = [report(1), report(2), report(3)];
    const reportsFile = await exportReportsFile(join(siteSide(), 'reports.flotilla'), journal, {
      key: agentKey,
      targetId: TARGET,
      base: REPORT_CHAIN_GENESIS,
      createdAt: NOW.toISOString(),
    });
    copyFileSync(reportsFile.path, join(hubSide(), 'reports.flotilla'));

    // Hub: ingest once, even when the operator imports the file twice; answer a receipt.
    const store = hubReports();
    const options = {
      targetId: TARGET,
      agentKeys,
      history: store.history,
      accept: store.accept,
      hubKey,
      now: () => NOW,
    };
    const first = await importReportsFile(join(hubSide(), 'reports.flotilla'), options);
    const second = await importReportsFile(join(hubSide(), 'reports.flotilla'), options);
    expect(first.plan.accept).toEqual([1, 2, 3]);
    expect(second.plan.accept).toEqual([]);
    expect([...store.held.keys()]).toEqual([1, 2, 3]);
    await writeReceiptFile(join(hubSide(), 'receipt.flotilla'), first.receipt);
    copyFileSync(join(hubSide(), 'receipt.flotilla'), join(siteSide(), 'receipt.flotilla'));

    // Site: the receipt confirms what the agent may drop from its journal.
    const links = new Map<number, string>();
    let prev = REPORT_CHAIN_GENESIS.link;
    for (const signed of journal) {
      prev = linkReport(prev, signed);
      links.set(signed.report.seq, prev);
    }
    const { settlement } = await importReceiptFile(
      join(siteSide(), 'receipt.flotilla'),
      { trustRoot: verified.trustRoot, targetId: TARGET },
      (seq) => links.get(seq),
    );
    expect(settlement.confirmed).toEqual([{ from: 1, to: 3 }]);
    expect(first.receipt.receipt.reportsFile).toBe(reportsFile.digest);
  });
});
