import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlotillaError, generateKeyPair, type SignedReport } from '@flotilla/protocol';
import { FileAgentStore } from '../../src/agent-state.ts';
import { ReportJournal, type ReportBody } from '../../src/journal/report-journal.ts';

const TARGET = `tgt_${'0'.repeat(20)}`;
let dir: string;
let store: FileAgentStore;
let journal: ReportJournal;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-journal-'));
  store = new FileAgentStore(dir);
  journal = new ReportJournal(dir, generateKeyPair(), TARGET, store);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function body(n: number, extra: Partial<ReportBody> = {}): ReportBody {
  return {
    generation: n,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [{ key: `ConfigMap/default/c${n}`, status: 'applied', health: 'healthy' }],
    facts: { substrate: 'host' },
    observedAt: new Date(0).toISOString(),
    ...extra,
  };
}

/** A hub in memory: it holds reports by seq and answers as the real one does. */
function hub(held: Map<number, string> = new Map()) {
  const received: SignedReport[] = [];
  const send = async (signed: SignedReport) => {
    const { seq } = signed.report;
    const text = JSON.stringify(signed.report);
    const lastSeq = () => Math.max(0, ...held.keys());
    if (held.has(seq) && held.get(seq) !== text)
      throw new FlotillaError('REPORT_SEQ_CONFLICT', `report ${seq} was received with other content`, {
        lastSeq: lastSeq(),
        status: 409,
      });
    const duplicate = held.has(seq);
    held.set(seq, text);
    received.push(signed);
    return { seq, duplicate, lastSeq: lastSeq() };
  };
  return { held, received, send };
}

describe('the report journal', () => {
  it('numbers its reports past the hub after a conflict, flags the first, and sends them all', async () => {
    const { held, received, send } = hub(new Map([1, 2, 3, 4, 5].map((seq) => [seq, `earlier ${seq}`])));
    await journal.append(body(1));
    await journal.append(body(2));
    expect(await journal.flush(send)).toEqual({ sent: 2, dropped: 0 });
    expect(received.map((r) => r.report.seq)).toEqual([6, 7]);
    expect(received[0]?.report.seqResync).toEqual({ after: 5 });
    expect(received[1]?.report.seqResync).toBeUndefined();
    expect(held.size).toBe(7);
    expect((await journal.append(body(3))).report.seq).toBe(8);
  });

  it('sends a report too large for the hub again without its resources, drift and extra facts', async () => {
    const { received, send } = hub();
    await journal.append(body(1, { facts: { substrate: 'host', huge: 'x'.repeat(100) } }));
    await journal.append(body(2));
    let refused = 0;
    const result = await journal.flush(async (signed) => {
      if (signed.report.seq === 1 && signed.report.resources.length > 0) {
        refused++;
        throw new FlotillaError('BODY_TOO_LARGE', 'the request body exceeds the limit', { status: 413 });
      }
      return send(signed);
    });
    expect(refused).toBe(1);
    expect(result).toEqual({ sent: 2, dropped: 0 });
    expect(received[0]?.report).toMatchObject({ seq: 1, resources: [], facts: { substrate: 'host' } });
    expect(received[0]?.report.facts).not.toHaveProperty('huge');
    expect(received[1]?.report.seq).toBe(2);
  });

  it('drops a report the hub refuses for good, and sends the ones behind it', async () => {
    const { received, send } = hub();
    await journal.append(body(1));
    await journal.append(body(2));
    const result = await journal.flush(async (signed) => {
      if (signed.report.seq === 1) throw new FlotillaError('SIGNATURE_INVALID', 'not signed by the target key');
      return send(signed);
    });
    expect(result).toEqual({ sent: 1, dropped: 1 });
    expect(received.map((r) => r.report.seq)).toEqual([2]);
    expect(journal.pending()).toEqual([]);
  });

  it('keeps everything when the hub is away or the token must be renewed', async () => {
    await journal.append(body(1));
    await journal.append(body(2));
    for (const code of ['HUB_UNAVAILABLE', 'TOKEN_EXPIRED', 'STORE_UNAVAILABLE'] as const) {
      await expect(
        journal.flush(async () => {
          throw new FlotillaError(code, 'not now');
        }),
      ).rejects.toMatchObject({ code });
      expect(journal.pending()).toHaveLength(2);
    }
  });

  it('drops a journal file it cannot read instead of stopping on it', async () => {
    const { received, send } = hub();
    await journal.append(body(1));
    writeFileSync(join(dir, 'journal', '000000000000.report.json'), '{"report":');
    expect(await journal.flush(send)).toEqual({ sent: 1, dropped: 1 });
    expect(received.map((r) => r.report.seq)).toEqual([1]);
  });

  it('flags the next report after a gap found with nothing waiting', async () => {
    const { received, send } = hub();
    await journal.resync(41);
    await journal.append(body(1));
    await journal.flush(send);
    expect(received.map((r) => [r.report.seq, r.report.seqResync])).toEqual([[42, { after: 41 }]]);
  });
});
