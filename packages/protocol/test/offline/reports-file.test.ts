import { describe, expect, it } from 'vitest';
import {
  canonicalize,
  digestOf,
  generateKeyPair,
  keyIdOf,
  signPayload,
  type ErrorCode,
  type SignedReport,
} from '../../src/index.ts';
import {
  linkReport,
  readReportsFile,
  REPORT_CHAIN_GENESIS,
  ReportsFileWriter,
  summarizeReportsFile,
  type ChainPoint,
  type ReportsFileItem,
} from '../../src/offline/index.ts';
import { agentKey, agentKeys, chunks, NOW, OTHER_TARGET, report, TARGET } from './offline-fixture.ts';

function write(reports: readonly SignedReport[], base: ChainPoint = REPORT_CHAIN_GENESIS, key = agentKey): string[] {
  const writer = new ReportsFileWriter({ key, targetId: TARGET, base, createdAt: NOW.toISOString() });
  return [writer.header(), ...reports.map((r) => writer.link(r)), writer.seal().line];
}

const bytes = (lines: readonly string[]) => new TextEncoder().encode(lines.join(''));

async function read(
  lines: readonly string[] | Uint8Array,
  options = { targetId: TARGET, agentKeys },
): Promise<ReportsFileItem[]> {
  const items: ReportsFileItem[] = [];
  for await (const item of readReportsFile(chunks(lines instanceof Uint8Array ? lines : bytes(lines), 97), options))
    items.push(item);
  return items;
}

async function refused(
  lines: readonly string[] | Uint8Array,
  code: ErrorCode,
  details: Record<string, unknown> = {},
): Promise<void> {
  await expect(read(lines)).rejects.toMatchObject({
    name: 'FlotillaError',
    code,
    details: expect.objectContaining(details),
  });
}

/** Rewrites line `index` (0-based) as canonical JSON after `change`. */
function edit(lines: readonly string[], index: number, change: (value: Record<string, unknown>) => unknown): string[] {
  const copy = [...lines];
  copy[index] = `${canonicalize(change(JSON.parse(copy[index]!)))}\n`;
  return copy;
}

const three = [report(1), report(2), report(3)];

describe('a reports file', () => {
  it('reads back as its header, every report in order with its link, then the seal', async () => {
    const items = await read(write(three));
    expect(items.map((i) => i.type)).toEqual(['header', 'report', 'report', 'report', 'seal']);
    const reports = items.filter((i) => i.type === 'report');
    expect(reports.map((r) => r.signed)).toEqual(three);
    expect(reports[0]!.prev).toBe(REPORT_CHAIN_GENESIS.link);
    expect(reports[1]!.prev).toBe(reports[0]!.link);
    expect(items.at(-1)).toMatchObject({ type: 'seal', seal: { count: 3, head: { seq: 3, link: reports[2]!.link } } });
  });

  it('chains each report to the one before by hash: link = sha256 of {prev, report digest, seq}', async () => {
    const items = await read(write(three));
    const first = items[1] as Extract<ReportsFileItem, { type: 'report' }>;
    expect(first.link).toBe(linkReport(REPORT_CHAIN_GENESIS.link, three[0]!));
    expect(first.link).toBe(
      `sha256:${(await import('node:crypto'))
        .createHash('sha256')
        .update(canonicalize({ prev: REPORT_CHAIN_GENESIS.link, report: digestOf(three[0]), seq: 1 }))
        .digest('hex')}`,
    );
  });

  it('continues the chain across files: a file based on the last one links as one file would', async () => {
    const whole = await summarizeReportsFile(chunks(bytes(write([...three, report(4)])), 1000), {
      targetId: TARGET,
      agentKeys,
    });
    const first = await summarizeReportsFile(chunks(bytes(write(three)), 1000), { targetId: TARGET, agentKeys });
    const second = await summarizeReportsFile(chunks(bytes(write([report(4)], first.head)), 1000), {
      targetId: TARGET,
      agentKeys,
    });
    expect(second.head).toEqual(whole.head);
  });

  it('is deterministic: the same reports and base give the same bytes', () => {
    expect(write(three).join('')).toBe(write(three).join(''));
  });

  it('may hold no report at all, its head being its base', async () => {
    const items = await read(write([]));
    expect(items.at(-1)).toMatchObject({ type: 'seal', seal: { count: 0, head: REPORT_CHAIN_GENESIS } });
  });

  it('may skip seqs the agent no longer holds; the reader leaves gaps to the ingest plan', async () => {
    const items = await read(write([report(1), report(5)]));
    expect(items.filter((i) => i.type === 'report')).toHaveLength(2);
  });
});

describe('a reports file is refused', () => {
  it('when a report is forged (signed by a key that is not the target key)', async () => {
    await refused(write([report(1), report(2, {}, generateKeyPair()), report(3)]), 'REPORTS_KEY_UNKNOWN', {
      seq: 2,
      line: 3,
    });
  });

  it('when a report is forged under the target key id (signed by another key)', async () => {
    const forged = report(2, {}, generateKeyPair());
    const spoofed = { ...forged, signature: { ...forged.signature, keyId: keyIdOf(agentKey.publicKey) } };
    await refused(write([report(1), spoofed, report(3)]), 'REPORTS_SIGNATURE_INVALID', { seq: 2, line: 3 });
  });

  it('when a report was edited after it was chained', async () => {
    const lines = edit(write(three), 2, (v) => ({
      ...v,
      signed: { ...(v['signed'] as object), report: { ...(v['signed'] as SignedReport).report, health: 'degraded' } },
    }));
    await refused(lines, 'REPORTS_CHAIN_BROKEN', { seq: 2 });
  });

  it('when a report was edited and the chain recomputed around it', async () => {
    const edited = { ...three[1]!, report: { ...three[1]!.report, health: 'degraded' as const } };
    await refused(write([three[0]!, edited, three[2]!]), 'REPORTS_SIGNATURE_INVALID', { seq: 2 });
  });

  it('when a report is replayed (its line repeated)', async () => {
    const lines = write(three);
    await refused([...lines.slice(0, 3), lines[2]!, ...lines.slice(3)], 'REPORTS_ORDER', { seq: 2, line: 4 });
  });

  it('when reports are reordered', async () => {
    const lines = write(three);
    await refused([lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)], 'REPORTS_CHAIN_BROKEN', { seq: 2 });
  });

  it('when a report is removed', async () => {
    const lines = write(three);
    await refused([lines[0]!, lines[1]!, lines[3]!, lines[4]!], 'REPORTS_CHAIN_BROKEN', { seq: 3 });
  });

  it('when a report from another file is spliced in (detected where the next report no longer links)', async () => {
    const other = write([report(1), report(2, { health: 'degraded' })]);
    const lines = write(three);
    await refused([lines[0]!, lines[1]!, other[2]!, ...lines.slice(3)], 'REPORTS_CHAIN_BROKEN', { seq: 3 });
  });

  it('when the agent key chained seqs that go back (a reorder by the key holder)', async () => {
    const writer = new ReportsFileWriter({
      key: agentKey,
      targetId: TARGET,
      base: REPORT_CHAIN_GENESIS,
      createdAt: NOW.toISOString(),
    });
    const first = writer.link(report(5));
    const back = report(4);
    const prev = JSON.parse(first).link as string;
    const line = `${canonicalize({ kind: 'ReportLink', prev, link: linkReport(prev, back), signed: back })}\n`;
    await refused([writer.header(), first, line], 'REPORTS_ORDER', { seq: 4 });
  });

  it('when the seal was forged', async () => {
    const lines = write(three);
    const forged = edit(lines, 4, (v) => ({
      ...v,
      signature: signPayload('reports-file', { ...v, signature: undefined }, generateKeyPair()),
    }));
    await refused(forged, 'REPORTS_SIGNATURE_INVALID', { line: 5 });
  });

  it('when the seal covers fewer reports than the file holds (a report appended after sealing)', async () => {
    const longer = write([...three, report(4)]);
    const lines = write(three);
    await refused([...lines.slice(0, 4), longer[4]!, lines[4]!], 'REPORTS_CHAIN_BROKEN');
  });

  it('when the header was changed after sealing', async () => {
    const lines = edit(write([]), 0, (v) => ({ ...v, createdAt: '2020-01-01T00:00:00.000Z' }));
    await refused(lines, 'REPORTS_CHAIN_BROKEN', { line: 2 });
  });

  it('when the seal is missing (the file was cut short)', async () => {
    await refused(write(three).slice(0, 4), 'REPORTS_FILE_INVALID');
  });

  it('when the file is cut inside a line', async () => {
    const all = bytes(write(three));
    await refused(all.subarray(0, all.length - 40), 'REPORTS_FILE_INVALID');
  });

  it('when anything follows the seal', async () => {
    const lines = write(three);
    await refused([...lines, lines[1]!], 'REPORTS_FILE_INVALID', { line: 6 });
  });

  it('when it is about another target', async () => {
    await expect(read(write(three), { targetId: OTHER_TARGET, agentKeys })).rejects.toMatchObject({
      code: 'REPORTS_TARGET_MISMATCH',
      details: { line: 1 },
    });
  });

  it('when a report in it is about another target', async () => {
    const writer = new ReportsFileWriter({
      key: agentKey,
      targetId: TARGET,
      base: REPORT_CHAIN_GENESIS,
      createdAt: NOW.toISOString(),
    });
    const foreign = report(1, { targetId: OTHER_TARGET });
    const line = `${canonicalize({ kind: 'ReportLink', prev: REPORT_CHAIN_GENESIS.link, link: linkReport(REPORT_CHAIN_GENESIS.link, foreign), signed: foreign })}\n`;
    await refused([writer.header(), line], 'REPORTS_TARGET_MISMATCH', { seq: 1 });
  });

  it('when it is signed by a key that is not the target key', async () => {
    const stranger = generateKeyPair();
    await expect(read(write([report(1, {}, stranger)], REPORT_CHAIN_GENESIS, stranger))).rejects.toMatchObject({
      code: 'REPORTS_KEY_UNKNOWN',
      details: { keyId: keyIdOf(stranger.publicKey) },
    });
  });

  it('when a line is not in canonical form (two spellings of one document)', async () => {
    const lines = write(three);
    await refused([lines[0]!.replace('{', '{ '), ...lines.slice(1)], 'REPORTS_FILE_INVALID', { line: 1 });
  });

  it('when a line is not JSON', async () => {
    await refused(['{"kind":\n'], 'REPORTS_FILE_INVALID', { line: 1 });
  });

  it('when it is empty', async () => {
    await refused([], 'REPORTS_FILE_INVALID');
  });
});
