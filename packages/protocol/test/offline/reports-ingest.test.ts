import { describe, expect, it } from 'vitest';
import { canonicalize, digestOf, generateKeyPair, keyIdOf, signPayload, type SignedReport } from '../../src/index.ts';
import {
  planReportsIngest,
  REPORT_CHAIN_GENESIS,
  ReportsFileWriter,
  settleReceipt,
  signReceipt,
  summarizeReportsFile,
  toSeqRanges,
  verifyReceipt,
  type ChainPoint,
  type ReportHistory,
  type SignedOfflineReceipt,
} from '../../src/offline/index.ts';
import {
  agentKey,
  agentKeys,
  chunks,
  hubKey,
  NOW,
  OTHER_TARGET,
  report,
  TARGET,
  trustRoot,
} from './offline-fixture.ts';

async function summary(reports: readonly SignedReport[], base: ChainPoint = REPORT_CHAIN_GENESIS) {
  const writer = new ReportsFileWriter({ key: agentKey, targetId: TARGET, base, createdAt: NOW.toISOString() });
  const text = [writer.header(), ...reports.map((r) => writer.link(r)), writer.seal().line].join('');
  return summarizeReportsFile(chunks(new TextEncoder().encode(text), 512), { targetId: TARGET, agentKeys });
}

/** The hub's holdings as a map of seq to signed report, as its store would answer. */
function history(held: ReadonlyMap<number, SignedReport>): ReportHistory {
  return {
    reportDigest: (seq) => (held.has(seq) ? digestOf(held.get(seq)) : undefined),
    missing: (from, to) =>
      toSeqRanges(Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((seq) => !held.has(seq))),
  };
}

/** Ingests a plan into `held` the way a hub store would. */
async function ingest(held: Map<number, SignedReport>, reports: readonly SignedReport[], base?: ChainPoint) {
  const file = await summary(reports, base);
  const plan = planReportsIngest(file, history(held));
  const bySeq = new Map(reports.map((r) => [r.report.seq, r]));
  for (const seq of plan.accept) held.set(seq, bySeq.get(seq)!);
  return { file, plan };
}

describe('the hub ingest plan for a reports file', () => {
  it('accepts every report the hub does not hold, in seq order', async () => {
    const { plan } = await ingest(new Map(), [report(1), report(2), report(3)]);
    expect(plan).toMatchObject({ accept: [1, 2, 3], duplicates: [], forks: [], gaps: [] });
  });

  it('changes nothing when the same file is imported twice: every report is a duplicate', async () => {
    const held = new Map<number, SignedReport>();
    const reports = [report(1), report(2), report(3)];
    await ingest(held, reports);
    const again = await ingest(held, reports);
    expect(again.plan).toMatchObject({ accept: [], duplicates: [{ from: 1, to: 3 }], forks: [], gaps: [] });
  });

  it('ingests only the new reports of a later file that repeats earlier ones', async () => {
    const held = new Map<number, SignedReport>();
    await ingest(held, [report(1), report(2)]);
    const later = await ingest(held, [report(1), report(2), report(3), report(4)]);
    expect(later.plan).toMatchObject({ accept: [3, 4], duplicates: [{ from: 1, to: 2 }] });
  });

  it('takes reports the hub already received online as duplicates', async () => {
    const held = new Map([[2, report(2)]]);
    expect((await ingest(held, [report(1), report(2), report(3)])).plan).toMatchObject({
      accept: [1, 3],
      duplicates: [{ from: 2, to: 2 }],
    });
  });

  it('flags a fork and never ingests over a report the hub holds with other content', async () => {
    const held = new Map([[2, report(2, { health: 'degraded' })]]);
    const { plan } = await ingest(held, [report(1), report(2), report(3)]);
    expect(plan).toMatchObject({ accept: [1, 3], forks: [2] });
    expect(held.get(2)!.report.health).toBe('degraded');
  });

  it('flags the seqs the chain skips and the hub never received as gaps', async () => {
    const held = new Map([[3, report(3)]]);
    const { plan } = await ingest(held, [report(1), report(6), report(7)]);
    expect(plan.gaps).toEqual([
      { from: 2, to: 2 },
      { from: 4, to: 5 },
    ]);
  });

  it('takes the reports the hub pruned past retention as duplicates, and their seqs as no gap', async () => {
    const held = new Map([[5, report(5)]]);
    const file = await summary([report(1), report(2), report(5), report(6), report(8)]);
    expect(planReportsIngest(file, { ...history(held), prunedThrough: 4 })).toMatchObject({
      accept: [6, 8],
      duplicates: [
        { from: 1, to: 2 },
        { from: 5, to: 5 },
      ],
      forks: [],
      gaps: [{ from: 7, to: 7 }],
    });
  });

  it('counts no gap at or below what the hub pruned, between the base and the first report too', async () => {
    const first = await summary([report(1)]);
    const file = await summary([report(6)], { seq: 1, link: first.head.link });
    expect(planReportsIngest(file, { ...history(new Map()), prunedThrough: 3 }).gaps).toEqual([{ from: 4, to: 5 }]);
  });

  it('flags the seqs between the base and the first report as a gap', async () => {
    const first = await summary([report(1)]);
    const { plan } = await ingest(new Map(), [report(4)], { seq: 2, link: first.head.link });
    expect(plan.gaps).toEqual([{ from: 3, to: 3 }]);
  });
});

describe('the receipt', () => {
  const site = { trustRoot: trustRoot(1), targetId: TARGET };

  async function receiptFor(reports: readonly SignedReport[], held = new Map<number, SignedReport>()) {
    const { file, plan } = await ingest(held, reports);
    return { file, signed: signReceipt(file, plan, NOW.toISOString(), hubKey) };
  }

  /** The agent's own links, from the file it exported. */
  async function linksOf(reports: readonly SignedReport[]) {
    const file = await summary(reports);
    const links = new Map(file.entries.map((e) => [e.seq, e.link]));
    return (seq: number) => links.get(seq);
  }

  it('names what the hub accepted, already held, and flags, and lets the agent prune exactly that', async () => {
    const held = new Map([
      [2, report(2)],
      [3, report(3, { health: 'degraded' })],
    ]);
    const reports = [report(1), report(2), report(3), report(4)];
    const { signed } = await receiptFor(reports, held);
    const receipt = verifyReceipt(signed, site);
    expect(receipt).toMatchObject({
      accepted: [
        { from: 1, to: 1 },
        { from: 4, to: 4 },
      ],
      duplicates: [{ from: 2, to: 2 }],
      forks: [3],
      head: { seq: 4 },
    });
    expect(settleReceipt(receipt, await linksOf(reports))).toEqual({
      confirmed: [
        { from: 1, to: 2 },
        { from: 4, to: 4 },
      ],
      forks: [3],
    });
  });

  it('is refused when it is not signed by the hub (signed by another key under the hub key id)', async () => {
    const { signed } = await receiptFor([report(1)]);
    const forged: SignedOfflineReceipt = {
      receipt: signed.receipt,
      signature: {
        keyId: signed.signature.keyId,
        sig: signPayload('offline-receipt', signed.receipt, generateKeyPair()).sig,
      },
    };
    expect(() => verifyReceipt(forged, site)).toThrow(expect.objectContaining({ code: 'RECEIPT_SIGNATURE_INVALID' }));
  });

  it('is refused when it is signed by a key the trust root does not name as a hub key', async () => {
    const { file } = await receiptFor([report(1)]);
    const stranger = generateKeyPair();
    const signed = signReceipt(file, planReportsIngest(file, history(new Map())), NOW.toISOString(), stranger);
    expect(() => verifyReceipt(signed, site)).toThrow(
      expect.objectContaining({ code: 'RECEIPT_KEY_UNKNOWN', details: { keyId: keyIdOf(stranger.publicKey) } }),
    );
  });

  it('is refused when it was altered after signing (claims more than the hub accepted)', async () => {
    const { signed } = await receiptFor([report(1), report(2)]);
    const changed = { ...signed, receipt: { ...signed.receipt, accepted: [], duplicates: [{ from: 1, to: 2 }] } };
    expect(() => verifyReceipt(changed, site)).toThrow(expect.objectContaining({ code: 'RECEIPT_SIGNATURE_INVALID' }));
  });

  it('is refused when it is for another target', async () => {
    const { signed } = await receiptFor([report(1)]);
    expect(() => verifyReceipt(signed, { ...site, targetId: OTHER_TARGET })).toThrow(
      expect.objectContaining({ code: 'RECEIPT_TARGET_MISMATCH' }),
    );
  });

  it('is refused when it names seqs beyond the file it answers', async () => {
    const { signed } = await receiptFor([report(1)]);
    const receipt = { ...signed.receipt, accepted: [{ from: 1, to: 9 }] };
    expect(() => verifyReceipt({ receipt, signature: signPayload('offline-receipt', receipt, hubKey) }, site)).toThrow(
      expect.objectContaining({ code: 'RECEIPT_INVALID' }),
    );
  });

  it("settles nothing and is refused when it answers a file of another chain than the agent's own", async () => {
    const { signed } = await receiptFor([report(1), report(2, { health: 'degraded' })]);
    const own = await linksOf([report(1), report(2)]);
    expect(() => settleReceipt(verifyReceipt(signed, site), own)).toThrow(
      expect.objectContaining({ code: 'RECEIPT_INVALID', details: { seq: 2 } }),
    );
  });

  it('settles nothing the second time: the agent no longer holds what the first one confirmed', async () => {
    const reports = [report(1), report(2)];
    const { signed } = await receiptFor(reports);
    const links = await linksOf(reports);
    const journal = new Set([1, 2]);
    const linkAt = (seq: number) => (journal.has(seq) ? links(seq) : undefined);
    for (const range of settleReceipt(verifyReceipt(signed, site), linkAt).confirmed)
      for (let s = range.from; s <= range.to; s++) journal.delete(s);
    expect(journal.size).toBe(0);
    expect(settleReceipt(verifyReceipt(signed, site), linkAt)).toEqual({ confirmed: [], forks: [] });
  });

  it('is canonical JSON the agent can store and verify later', async () => {
    const { signed } = await receiptFor([report(1)]);
    expect(verifyReceipt(JSON.parse(canonicalize(signed)), site)).toEqual(signed.receipt);
  });
});
