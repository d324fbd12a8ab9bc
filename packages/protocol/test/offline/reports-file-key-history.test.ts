import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyIdOf, type SignedReport } from '../../src/index.ts';
import {
  readReportsFile,
  REPORT_CHAIN_GENESIS,
  ReportsFileWriter,
  type AgentKey,
  type ReportsFileItem,
} from '../../src/offline/index.ts';
import { agentKey, chunks, NOW, report, TARGET } from './offline-fixture.ts';

// The agent signed reports 1-3 with `agentKey`, then rotated to `rotated` when the hub held
// report 3; `agentKey` is retired with that bound.
const rotated = generateKeyPair();
const retiredAt = new Date(NOW.getTime() + 3 * 60_000 + 30_000).toISOString();
const keys: AgentKey[] = [
  { id: keyIdOf(rotated.publicKey), publicKey: rotated.publicKey },
  { id: keyIdOf(agentKey.publicKey), publicKey: agentKey.publicKey, retired: { seq: 3, at: retiredAt } },
];

function file(reports: readonly SignedReport[], key = rotated): Uint8Array {
  const writer = new ReportsFileWriter({
    key,
    targetId: TARGET,
    base: REPORT_CHAIN_GENESIS,
    createdAt: NOW.toISOString(),
  });
  return new TextEncoder().encode(
    [writer.header(), ...reports.map((r) => writer.link(r)), writer.seal().line].join(''),
  );
}

async function read(bytes: Uint8Array): Promise<ReportsFileItem[]> {
  const items: ReportsFileItem[] = [];
  for await (const item of readReportsFile(chunks(bytes, 97), { targetId: TARGET, agentKeys: keys })) items.push(item);
  return items;
}

const seqsOf = (items: ReportsFileItem[]) => items.flatMap((i) => (i.type === 'report' ? [i.signed.report.seq] : []));

describe('a reports file across a key rotation', () => {
  it('takes reports signed by the retired key up to its bound, then by the new key, in one file sealed by the new key', async () => {
    const reports = [report(1), report(2), report(3), report(4, {}, rotated), report(5, {}, rotated)];
    expect(seqsOf(await read(file(reports)))).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes a whole file written before the rotation, sealed by the retired key', async () => {
    expect(seqsOf(await read(file([report(1), report(2), report(3)], agentKey)))).toEqual([1, 2, 3]);
  });

  it('refuses a report signed by the retired key with a seq past its bound, naming the report', async () => {
    await expect(read(file([report(3), report(4)]))).rejects.toMatchObject({
      code: 'REPORTS_KEY_RETIRED',
      details: { seq: 4, line: 3, keyId: keyIdOf(agentKey.publicKey) },
    });
  });

  it('refuses a report signed by the retired key that claims to be observed after the rotation', async () => {
    const late = report(2, { observedAt: new Date(Date.parse(retiredAt) + 6 * 60_000).toISOString() });
    await expect(read(file([report(1), late]))).rejects.toMatchObject({
      code: 'REPORTS_KEY_RETIRED',
      details: { seq: 2 },
    });
  });

  it('refuses a file sealed by the retired key whose head is past its bound', async () => {
    const forged = [report(1), report(2), report(3), report(4, {}, rotated)];
    await expect(read(file(forged, agentKey))).rejects.toMatchObject({ code: 'REPORTS_KEY_RETIRED' });
  });

  it('refuses a report signed by a key never bound to the target', async () => {
    await expect(read(file([report(1), report(2, {}, generateKeyPair())]))).rejects.toMatchObject({
      code: 'REPORTS_KEY_UNKNOWN',
      details: { seq: 2, line: 3 },
    });
  });

  it('refuses a report whose signature names the new key but was made by another', async () => {
    const forged = report(4, {}, generateKeyPair());
    const spoofed = { ...forged, signature: { ...forged.signature, keyId: keyIdOf(rotated.publicKey) } };
    await expect(read(file([report(1), spoofed]))).rejects.toMatchObject({
      code: 'REPORTS_SIGNATURE_INVALID',
      details: { seq: 4 },
    });
  });
});
