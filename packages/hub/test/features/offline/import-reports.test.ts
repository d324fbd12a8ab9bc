import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize, digestOf, generateKeyPair, signPayload, type SignedReport } from '@flotilla/protocol';
import {
  REPORT_CHAIN_GENESIS,
  ReportsFileWriter,
  SignedOfflineReceipt,
  toSeqRanges,
  verifyReceipt,
  type ReportHistory,
} from '@flotilla/protocol/offline';
import { importReportsFile, writeReceiptFile } from '../../../src/features/offline/import-reports.ts';
import {
  agentKey,
  agentKeys,
  hubKey,
  NOW,
  report,
  TARGET,
  trustRoot,
} from '../../../../protocol/test/offline/offline-fixture.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-reports-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function reportsFile(reports: readonly SignedReport[], name = 'reports.jsonl'): string {
  const writer = new ReportsFileWriter({
    key: agentKey,
    targetId: TARGET,
    base: REPORT_CHAIN_GENESIS,
    createdAt: NOW.toISOString(),
  });
  const path = join(dir, name);
  writeFileSync(path, [writer.header(), ...reports.map((r) => writer.link(r)), writer.seal().line].join(''));
  return path;
}

/** A hub store of one target's reports, in memory. */
function store() {
  const held = new Map<number, SignedReport>();
  const history: ReportHistory = {
    reportDigest: (seq) => (held.has(seq) ? digestOf(held.get(seq)) : undefined),
    missing: (from, to) =>
      toSeqRanges(Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((s) => !held.has(s))),
  };
  const accepted: number[] = [];
  return {
    held,
    accepted,
    options: {
      targetId: TARGET,
      agentKeys,
      history,
      hubKey,
      now: () => NOW,
      accept: (signed: SignedReport) => void (held.set(signed.report.seq, signed), accepted.push(signed.report.seq)),
    },
  };
}

describe('importing a reports file on the hub', () => {
  it('ingests every report in seq order and answers a receipt the agent can verify', async () => {
    const hub = store();
    const { receipt } = await importReportsFile(reportsFile([report(1), report(2), report(3)]), hub.options);
    expect(hub.accepted).toEqual([1, 2, 3]);
    expect(verifyReceipt(receipt, { trustRoot: trustRoot(1), targetId: TARGET })).toMatchObject({
      accepted: [{ from: 1, to: 3 }],
      duplicates: [],
    });
  });

  it('ingests nothing the second time, and says so in the receipt', async () => {
    const hub = store();
    const path = reportsFile([report(1), report(2)]);
    await importReportsFile(path, hub.options);
    const again = await importReportsFile(path, hub.options);
    expect(hub.accepted).toEqual([1, 2]);
    expect(again.receipt.receipt).toMatchObject({ accepted: [], duplicates: [{ from: 1, to: 2 }] });
  });

  it('ingests nothing from a file whose seal is forged, though every report in it is valid', async () => {
    const hub = store();
    const path = reportsFile([report(1), report(2)]);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const seal = JSON.parse(lines.at(-1)!);
    const { signature: _dropped, ...body } = seal;
    lines[lines.length - 1] = canonicalize({
      ...body,
      signature: signPayload('reports-file', body, generateKeyPair()),
    });
    writeFileSync(path, `${lines.join('\n')}\n`);
    await expect(importReportsFile(path, hub.options)).rejects.toMatchObject({ code: 'REPORTS_SIGNATURE_INVALID' });
    expect(hub.accepted).toEqual([]);
  });

  it('ingests nothing from a file with a forged report in the middle', async () => {
    const hub = store();
    await expect(
      importReportsFile(reportsFile([report(1), report(2, {}, generateKeyPair()), report(3)]), hub.options),
    ).rejects.toMatchObject({ code: 'REPORTS_KEY_UNKNOWN', details: { seq: 2 } });
    expect(hub.accepted).toEqual([]);
  });

  it('flags a fork and keeps the report it holds', async () => {
    const hub = store();
    hub.held.set(2, report(2, { health: 'degraded' }));
    const { receipt } = await importReportsFile(reportsFile([report(1), report(2), report(3)]), hub.options);
    expect(hub.accepted).toEqual([1, 3]);
    expect(receipt.receipt.forks).toEqual([2]);
    expect(hub.held.get(2)!.report.health).toBe('degraded');
  });

  it('writes the receipt as a file the agent reads back', async () => {
    const { receipt } = await importReportsFile(reportsFile([report(1)]), store().options);
    await writeReceiptFile(join(dir, 'receipt.json'), receipt);
    expect(SignedOfflineReceipt.parse(JSON.parse(readFileSync(join(dir, 'receipt.json'), 'utf8')))).toEqual(receipt);
  });
});
