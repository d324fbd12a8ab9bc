import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize, generateKeyPair, keyIdOf, type ErrorCode } from '@flotilla/protocol';
import {
  planReportsIngest,
  planTransfer,
  signReceipt,
  signTransferManifest,
  summarizeReportsFile,
  writeTransfer,
  type SignedTransferManifest,
  type TransferContents,
} from '@flotilla/protocol/offline';
import { FileAgentStore } from '../../src/agent-state.ts';
import { DriftEngine } from '../../src/drift/drift-engine.ts';
import { ManifestsDirDriver } from '../../src/drivers/manifests-dir.ts';
import { OfflineInbox } from '../../src/offline/offline-inbox.ts';
import { OfflineSite } from '../../src/offline/offline-site.ts';
import { ReportsOutbox } from '../../src/offline/reports-outbox.ts';
import {
  collect,
  contents,
  envelope,
  hubKey,
  NOW,
  OTHER_TARGET,
  release,
  signedTrustRoot,
  TARGET,
} from '../../../protocol/test/offline/offline-fixture.ts';
import { END, file, header, tar } from '../../../protocol/test/offline/craft-tar.ts';

const log = pino({ level: 'silent' });
const encoder = new TextEncoder();
let dir: string;
let now: number;
let store: FileAgentStore;
let site: OfflineSite;
const root = () => join(dir, 'root');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-site-'));
  now = NOW.getTime();
  store = new FileAgentStore(join(dir, 'state'));
  await store.saveEnrollment({ targetId: TARGET, name: 'site-1', hubId: 'hub_test', audience: 'hub_test' });
  await store.saveTrustRoot(signedTrustRoot(1));
  const driver = new ManifestsDirDriver(root());
  site = new OfflineSite({
    store,
    enrollment: (await store.enrollment())!,
    driver,
    drift: new DriftEngine({ driver, log, clock: () => now, dir: store.dir }),
    log,
    clock: () => now,
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const app = release('app', '4.2.0');
const db = release('db', '1.0.0');

/** Contents without images (the image path is tested end to end against a real registry). */
function siteContents(overrides: Partial<TransferContents> = {}): TransferContents {
  return contents({
    images: undefined,
    envelopes: [envelope(TARGET, 7, [app, db])],
    releases: [db, app],
    ...overrides,
  });
}

async function transferFile(name: string, source: TransferContents = siteContents()): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, await collect(writeTransfer(source, hubKey)));
  return path;
}

/** The parts of a valid file, each entry's path and bytes, the manifest first. */
async function parts(): Promise<{ signed: SignedTransferManifest; parts: { path: string; bytes: Uint8Array }[] }> {
  const { signed, entries } = planTransfer(siteContents(), hubKey);
  const list: { path: string; bytes: Uint8Array }[] = [
    { path: 'manifest.json', bytes: encoder.encode(canonicalize(signed)) },
  ];
  for (const { entry, body } of entries)
    list.push({ path: entry.path, bytes: 'bytes' in body ? body.bytes : await collect(body.blob.open()) });
  return { signed, parts: list };
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** What a refused import must leave exactly as it was. */
async function siteState() {
  const listing = (path: string): string[] => {
    try {
      return readdirSync(path).sort();
    } catch {
      return [];
    }
  };
  return {
    root: listing(root())
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `${f}:${readFileSync(join(root(), f), 'utf8')}`),
    sync: await store.sync(),
    trustRoot: (await store.trustRoot())!.trustRoot.version,
    journal: listing(join(store.dir, 'journal')),
    imports: listing(join(store.dir, 'imports')),
    bundles: listing(join(store.dir, 'bundles')),
  };
}

describe('importing a transfer file on a site', () => {
  it('verifies it, applies it through the sync pass, keeps the new trust roots, and journals one report', async () => {
    const result = await site.importTransfer(await transferFile('t.flotilla'));
    expect(result).toMatchObject({ generation: 7, outcome: 'applied', trustRootVersion: 3 });
    expect(readdirSync(root()).filter((f) => f.endsWith('.yaml'))).toHaveLength(2);
    expect((await store.sync()).appliedGeneration).toBe(7);
    expect((await store.trustRoot())!.trustRoot.version).toBe(3);
    const reports = readdirSync(join(store.dir, 'journal')).filter((f) => f.endsWith('.report.json'));
    expect(reports).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(store.dir, 'journal', reports[0]!), 'utf8')).report).toMatchObject({
      generation: 7,
      phase: 'applied',
    });
    expect(readdirSync(join(store.dir, 'imports'))).toEqual([]);
  });

  it('changes nothing when the same file is imported again', async () => {
    const path = await transferFile('t.flotilla');
    await site.importTransfer(path);
    const before = await siteState();
    expect((await site.importTransfer(path)).outcome).toBe('re-signed');
    expect(await siteState()).toEqual({ ...before, sync: expect.objectContaining({ appliedGeneration: 7 }) });
    expect((await siteState()).journal).toEqual(before.journal);
  });

  it('refuses an older generation than the one applied, and keeps what is in place', async () => {
    await site.importTransfer(await transferFile('new.flotilla'));
    const before = await siteState();
    const older = await transferFile('old.flotilla', siteContents({ envelopes: [envelope(TARGET, 6, [app, db])] }));
    await expect(site.importTransfer(older)).rejects.toMatchObject({ code: 'ENVELOPE_ROLLBACK' });
    expect(await siteState()).toEqual(before);
  });

  const attacks: Array<[string, () => Promise<string>, ErrorCode, string | undefined]> = [
    [
      'a manifest without a signature',
      async () => {
        const { signed, parts: p } = await parts();
        const bare = encoder.encode(canonicalize({ manifest: signed.manifest }));
        return write('x', tar(file('manifest.json', bare), ...p.slice(1).map((e) => file(e.path, e.bytes)), END));
      },
      'TRANSFER_SIGNATURE_MISSING',
      'manifest.json',
    ],
    [
      'a forged manifest signature',
      async () => {
        const { signed, parts: p } = await parts();
        const forged = { ...signed, manifest: { ...signed.manifest, createdAt: '2030-01-01T00:00:00Z' } };
        return write(
          'x',
          tar(file('manifest.json', canonicalize(forged)), ...p.slice(1).map((e) => file(e.path, e.bytes)), END),
        );
      },
      'TRANSFER_SIGNATURE_INVALID',
      'manifest.json',
    ],
    [
      'a manifest signed by a key the trust root does not know',
      async () => {
        const { signed, parts: p } = await parts();
        const other = signTransferManifest(signed.manifest, generateKeyPair());
        return write(
          'x',
          tar(file('manifest.json', canonicalize(other)), ...p.slice(1).map((e) => file(e.path, e.bytes)), END),
        );
      },
      'TRANSFER_KEY_UNKNOWN',
      'manifest.json',
    ],
    [
      'an unlisted entry',
      async () => {
        const { parts: p } = await parts();
        return write('x', tar(...p.map((e) => file(e.path, e.bytes)), file('extra.json', '{}'), END));
      },
      'TRANSFER_ENTRY_UNLISTED',
      'extra.json',
    ],
    [
      'a duplicated entry',
      async () => {
        const { parts: p } = await parts();
        return write('x', tar(...p.map((e) => file(e.path, e.bytes)), file(p[1]!.path, p[1]!.bytes), END));
      },
      'TRANSFER_ENTRY_DUPLICATE',
      undefined,
    ],
    [
      'an entry escaping with ../',
      async () => {
        const { parts: p } = await parts();
        return write('x', tar(file(p[0]!.path, p[0]!.bytes), file('../../evil.json', '{}'), END));
      },
      'TRANSFER_ENTRY_UNSAFE_PATH',
      '../../evil.json',
    ],
    [
      'an absolute path',
      async () => {
        const { parts: p } = await parts();
        return write('x', tar(file(p[0]!.path, p[0]!.bytes), file('/etc/cron.d/evil', '{}'), END));
      },
      'TRANSFER_ENTRY_UNSAFE_PATH',
      '/etc/cron.d/evil',
    ],
    [
      'a symbolic link',
      async () => {
        const { parts: p } = await parts();
        return write(
          'x',
          tar(file(p[0]!.path, p[0]!.bytes), header({ name: p[1]!.path, size: 0, type: '2', linkname: '/etc' }), END),
        );
      },
      'TRANSFER_ENTRY_TYPE',
      undefined,
    ],
    [
      'a device',
      async () => {
        const { parts: p } = await parts();
        return write('x', tar(file(p[0]!.path, p[0]!.bytes), header({ name: p[1]!.path, size: 0, type: '3' }), END));
      },
      'TRANSFER_ENTRY_TYPE',
      undefined,
    ],
    [
      'a blob longer than the manifest says',
      async () => {
        const { parts: p } = await parts();
        const last = p.at(-1)!;
        const longer = Buffer.concat([last.bytes, Buffer.from(' ')]);
        return write('x', tar(...p.slice(0, -1).map((e) => file(e.path, e.bytes)), file(last.path, longer), END));
      },
      'TRANSFER_ENTRY_TOO_LONG',
      undefined,
    ],
    [
      'a blob shorter than the manifest says',
      async () => {
        const { parts: p } = await parts();
        const last = p.at(-1)!;
        return write(
          'x',
          tar(...p.slice(0, -1).map((e) => file(e.path, e.bytes)), file(last.path, last.bytes.subarray(1)), END),
        );
      },
      'TRANSFER_ENTRY_TOO_SHORT',
      undefined,
    ],
    [
      'a truncated file',
      async () => {
        const whole = readFileSync(await transferFile('whole'));
        return write('x', whole.subarray(0, whole.length - 3000));
      },
      'TRANSFER_TRUNCATED',
      undefined,
    ],
    [
      'an envelope for another target',
      () => transferFile('x', siteContents({ envelopes: [envelope(OTHER_TARGET, 7, [app, db])] })),
      'ENVELOPE_TARGET_MISMATCH',
      undefined,
    ],
    [
      'an expired envelope',
      () =>
        transferFile(
          'x',
          siteContents({
            envelopes: [envelope(TARGET, 7, [app, db], { expiresAt: new Date(NOW.getTime() - 1000).toISOString() })],
          }),
        ),
      'ENVELOPE_EXPIRED',
      undefined,
    ],
  ];

  it.each(attacks)('refuses %s, naming it, and changes nothing', async (_name, make, code, entry) => {
    const path = await make();
    const before = await siteState();
    const error = await site.importTransfer(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'FlotillaError', code });
    if (entry !== undefined) expect(error).toMatchObject({ details: { entry } });
    expect(await siteState()).toEqual(before);
  });
});

describe('carrying reports back', () => {
  async function hubReceipt(path: string, key = hubKey) {
    const { createReadStream } = await import('node:fs');
    const summary = await summarizeReportsFile(createReadStream(path), {
      targetId: TARGET,
      agentKeys: [{ id: keyIdOf((await store.keyPair()).publicKey), publicKey: (await store.keyPair()).publicKey }],
    });
    const plan = planReportsIngest(summary, { reportDigest: () => undefined, missing: () => [] });
    return signReceipt(summary, plan, NOW.toISOString(), key);
  }

  it('exports the journal as a chained file, and a hub receipt drops exactly what it confirms', async () => {
    await site.importTransfer(await transferFile('t.flotilla'));
    const out = join(dir, 'reports.jsonl');
    const exported = await site.exportReports(out);
    expect(exported.seal).toMatchObject({ count: 1, head: { seq: 1 } });
    // A report journaled after the export stays until a later file's receipt.
    await site.importTransfer(
      await transferFile('t2.flotilla', siteContents({ envelopes: [envelope(TARGET, 8, [app, db])] })),
    );
    const receipt = join(dir, 'receipt.json');
    writeFileSync(receipt, canonicalize(await hubReceipt(out)));
    expect((await site.importReceipt(receipt)).pruned).toBe(1);
    expect(readdirSync(join(store.dir, 'journal')).filter((f) => f.endsWith('.report.json'))).toHaveLength(1);
    expect((await site.importReceipt(receipt)).pruned).toBe(0);
    const next = await site.exportReports(join(dir, 'reports-2.jsonl'));
    expect(next.seal).toMatchObject({ count: 1, head: { seq: 2 } });
    expect(readFileSync(join(dir, 'reports-2.jsonl'), 'utf8')).toContain(
      `"base":{"link":"${exported.seal.head.link}","seq":1}`,
    );
  });

  it('refuses a receipt not signed by the hub, and keeps every report', async () => {
    await site.importTransfer(await transferFile('t.flotilla'));
    const out = join(dir, 'reports.jsonl');
    await site.exportReports(out);
    const receipt = join(dir, 'receipt.json');
    writeFileSync(receipt, canonicalize(await hubReceipt(out, generateKeyPair())));
    const before = await siteState();
    await expect(site.importReceipt(receipt)).rejects.toMatchObject({ code: 'RECEIPT_KEY_UNKNOWN' });
    const signed = await hubReceipt(out);
    writeFileSync(
      receipt,
      canonicalize({ ...signed, receipt: { ...signed.receipt, head: { ...signed.receipt.head, seq: 9 } } }),
    );
    await expect(site.importReceipt(receipt)).rejects.toMatchObject({ code: 'RECEIPT_SIGNATURE_INVALID' });
    expect(await siteState()).toEqual(before);
  });
});

describe('the journal of a site whose agent rotated its key', () => {
  it('signs the reports of later transfer files with the new key', async () => {
    await site.importTransfer(await transferFile('t.flotilla'));
    const rotated = generateKeyPair();
    await store.commitKey(rotated, { keySince: NOW.toISOString(), pending: null, requested: false });
    await site.importTransfer(
      await transferFile('t2.flotilla', siteContents({ envelopes: [envelope(TARGET, 8, [app, db])] })),
    );
    const journaled = (seq: number) =>
      JSON.parse(readFileSync(join(store.dir, 'journal', `${String(seq).padStart(12, '0')}.report.json`), 'utf8'));
    expect(journaled(2).signature.keyId).toBe(keyIdOf(rotated.publicKey));
  });
});

describe('the outbox', () => {
  const outboxDir = () => join(dir, 'outbox');

  function outbox() {
    mkdirSync(outboxDir(), { recursive: true });
    return new ReportsOutbox({ dir: outboxDir(), site, log });
  }

  it('removes at start what a write killed part-way left, and nothing else', async () => {
    const box = outbox();
    writeFileSync(join(outboxDir(), '.reports-tgt_1-000000000001.jsonl.0a1b2c3d4e5f.partial'), '{"apiVersion"');
    writeFileSync(join(outboxDir(), 'reports-tgt_1-000000000001.jsonl'), 'taken by the diode next');
    await box.run(AbortSignal.abort());
    expect(readdirSync(outboxDir())).toEqual(['reports-tgt_1-000000000001.jsonl']);
  });

  it('writes nothing while the journal holds no report', async () => {
    expect(await outbox().write()).toBeUndefined();
    expect(readdirSync(outboxDir())).toEqual([]);
  });

  it('writes every journaled report as a file named for its last, and a new file only once the journal moved on', async () => {
    const box = outbox();
    await site.importTransfer(await transferFile('t.flotilla'));
    const first = await box.write();
    expect(first?.seal).toMatchObject({ count: 1, head: { seq: 1 } });
    expect(await box.write()).toBeUndefined();
    await site.importTransfer(
      await transferFile('t2.flotilla', siteContents({ envelopes: [envelope(TARGET, 8, [app, db])] })),
    );
    expect((await box.write())?.seal).toMatchObject({ count: 2, head: { seq: 2 } });
    // The header acknowledges the trust root the site holds (v3, from the transfer files).
    expect(readFileSync(join(outboxDir(), `reports-${TARGET}-000000000002.jsonl`), 'utf8')).toMatch(
      /^\{[^\n]*"trustRootVersion":3\}\n/,
    );
    expect(readdirSync(outboxDir()).sort()).toEqual([
      `reports-${TARGET}-000000000001.jsonl`,
      `reports-${TARGET}-000000000002.jsonl`,
    ]);
  });
});

describe('the inbox', () => {
  const inboxDir = () => join(dir, 'inbox');
  const seen = () => JSON.parse(readFileSync(join(store.dir, 'inbox-seen.json'), 'utf8')) as Record<string, string>;

  function inbox() {
    mkdirSync(inboxDir(), { recursive: true });
    return new OfflineInbox({ dir: inboxDir(), site, stateDir: store.dir, log });
  }

  it('handles a file once it stopped changing, and only once', async () => {
    const box = inbox();
    copyFileSync(await transferFile('t.flotilla'), join(inboxDir(), 'gen-7.flotilla'));
    expect(await box.scan()).toBe(0);
    expect((await store.sync()).appliedGeneration).toBe(0);
    expect(await box.scan()).toBe(1);
    expect((await store.sync()).appliedGeneration).toBe(7);
    expect(await box.scan()).toBe(0);
    expect(Object.values(seen())).toEqual(['imported generation 7']);
  });

  it('takes receipts too, and remembers a refused file without retrying it until it changes', async () => {
    const box = inbox();
    await site.importTransfer(await transferFile('t.flotilla'));
    await site.exportReports(join(dir, 'reports.jsonl'));
    const { createReadStream } = await import('node:fs');
    const key = await store.keyPair();
    const summary = await summarizeReportsFile(createReadStream(join(dir, 'reports.jsonl')), {
      targetId: TARGET,
      agentKeys: [{ id: keyIdOf(key.publicKey), publicKey: key.publicKey }],
    });
    const receipt = signReceipt(
      summary,
      planReportsIngest(summary, { reportDigest: () => undefined, missing: () => [] }),
      NOW.toISOString(),
      hubKey,
    );
    writeFileSync(join(inboxDir(), 'receipt.json'), canonicalize(receipt));
    writeFileSync(join(inboxDir(), 'broken.flotilla'), readFileSync(await transferFile('b')).subarray(0, 5000));
    await box.scan();
    expect(await box.scan()).toBe(2);
    expect(Object.values(seen()).sort()).toEqual(['receipt up to seq 1', 'refused: TRANSFER_TRUNCATED']);
    expect(readdirSync(join(store.dir, 'journal')).filter((f) => f.endsWith('.report.json'))).toEqual([]);
    expect(await box.scan()).toBe(0);
  });
});
