import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize, generateKeyPair, signPayload } from '@flotilla/protocol';
import {
  planReportsIngest,
  REPORT_CHAIN_GENESIS,
  signReceipt,
  summarizeReportsFile,
  toSeqRanges,
} from '@flotilla/protocol/offline';
import { exportReportsFile } from '../../src/offline/export-reports.ts';
import { importReceiptFile, readReceiptFile } from '../../src/offline/import-receipt.ts';
import {
  agentKey,
  agentKeys,
  hubKey,
  NOW,
  report,
  TARGET,
  trustRoot,
} from '../../../protocol/test/offline/offline-fixture.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-reports-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const site = { trustRoot: trustRoot(1), targetId: TARGET };
const reports = [report(1), report(2), report(3)];

async function exportAndAnswer() {
  const exported = await exportReportsFile(join(dir, 'reports.jsonl'), reports, {
    key: agentKey,
    targetId: TARGET,
    base: REPORT_CHAIN_GENESIS,
    createdAt: NOW.toISOString(),
  });
  const summary = await summarizeReportsFile(
    (async function* () {
      yield readFileSync(exported.path);
    })(),
    { targetId: TARGET, agentKeys },
  );
  const plan = planReportsIngest(summary, {
    reportDigest: () => undefined,
    missing: (from, to) => toSeqRanges(Array.from({ length: to - from + 1 }, (_, i) => from + i)),
  });
  const receipt = signReceipt(summary, plan, NOW.toISOString(), hubKey);
  writeFileSync(join(dir, 'receipt.json'), canonicalize(receipt));
  return { exported, summary, links: new Map(summary.entries.map((e) => [e.seq, e.link])) };
}

describe('the agent side of the reports exchange', () => {
  it('exports the reports as a sealed file the hub verifies, named by its digest in the receipt', async () => {
    const { exported, summary } = await exportAndAnswer();
    expect(exported.seal).toMatchObject({ count: 3, head: { seq: 3 } });
    expect(summary.fileDigest).toBe(exported.digest);
    expect((await readReceiptFile(join(dir, 'receipt.json'))).receipt.reportsFile).toBe(exported.digest);
  });

  it('settles the reports a receipt confirms', async () => {
    const { links } = await exportAndAnswer();
    const { settlement } = await importReceiptFile(join(dir, 'receipt.json'), site, (seq) => links.get(seq));
    expect(settlement).toEqual({ confirmed: [{ from: 1, to: 3 }], forks: [] });
  });

  it('refuses a receipt not signed by the hub', async () => {
    const { links } = await exportAndAnswer();
    const signed = JSON.parse(readFileSync(join(dir, 'receipt.json'), 'utf8'));
    signed.signature = {
      keyId: signed.signature.keyId,
      sig: signPayload('offline-receipt', signed.receipt, generateKeyPair()).sig,
    };
    writeFileSync(join(dir, 'receipt.json'), JSON.stringify(signed));
    await expect(importReceiptFile(join(dir, 'receipt.json'), site, (seq) => links.get(seq))).rejects.toMatchObject({
      code: 'RECEIPT_SIGNATURE_INVALID',
    });
  });

  it('refuses a receipt file that is not a receipt', async () => {
    writeFileSync(join(dir, 'receipt.json'), '{"receipt":');
    await expect(readReceiptFile(join(dir, 'receipt.json'))).rejects.toMatchObject({ code: 'RECEIPT_INVALID' });
    writeFileSync(join(dir, 'receipt.json'), '{"receipt":{}}');
    await expect(readReceiptFile(join(dir, 'receipt.json'))).rejects.toMatchObject({ code: 'RECEIPT_INVALID' });
  });

  it('writes the reports file atomically: a failing source leaves no file', async () => {
    async function* failing() {
      yield report(1);
      throw new Error('journal unreadable');
    }
    await expect(
      exportReportsFile(join(dir, 'reports.jsonl'), failing(), {
        key: agentKey,
        targetId: TARGET,
        base: REPORT_CHAIN_GENESIS,
        createdAt: NOW.toISOString(),
      }),
    ).rejects.toThrow('journal unreadable');
    expect((await import('node:fs')).readdirSync(dir)).toEqual([]);
  });
});
