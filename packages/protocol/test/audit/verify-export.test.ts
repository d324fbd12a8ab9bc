import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical-json.ts';
import { generateKeyPair, keyIdOf, signPayload } from '../../src/crypto/keys.ts';
import {
  AUDIT_GENESIS_HASH,
  auditCheckpointSigner,
  hashAuditEntry,
  verifyAuditExport,
  type AuditEntry,
} from '../../src/audit/index.ts';
import {
  TARGET_A,
  TARGET_B,
  checkpointAt,
  checkpointOf,
  editLine,
  lineOfEntry,
  makeChain,
  trustedKeys,
  writeExport,
} from './audit-fixture.ts';

// Twenty entries; the hub checkpointed seq 10 on its interval and the head (20) at export.
const entries = makeChain(20);
const checkpoints = [checkpointOf(entries, 10), checkpointOf(entries, 20)];
const full = writeExport({ entries, checkpoints });
const text = `${full.join('\n')}\n`;

const problemsOf = (lines: readonly string[]) =>
  verifyAuditExport(lines, { trustedKeys }).problems.map(({ kind, seq, line }) => ({ kind, seq, line }));

/** Re-hashes entries from `from` on so that every link holds again: what a forger with no key does. */
function rechain(list: readonly AuditEntry[], from: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prev = from === 1 ? AUDIT_GENESIS_HASH : list.find((e) => e.seq === from - 1)!.hash;
  for (const entry of list) {
    if (entry.seq < from) {
      out.push(entry);
      continue;
    }
    const hash = hashAuditEntry({ ...entry, prevHash: prev });
    out.push({ ...entry, prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

describe('verifying an intact export', () => {
  it('accepts the text, counts what it checked and says the keys were trusted', () => {
    const result = verifyAuditExport(text, { trustedKeys });
    expect(result).toMatchObject({
      ok: true,
      entries: 20,
      elided: 0,
      checkpoints: 3,
      range: { from: 1, to: 20 },
      signedThrough: 20,
      trusted: true,
      problems: [],
    });
    expect(result.head).toEqual({ seq: 20, hash: entries[19]!.hash });
  });

  it('accepts the lines one by one, with or without newlines or carriage returns', () => {
    expect(verifyAuditExport(full, { trustedKeys }).ok).toBe(true);
    expect(
      verifyAuditExport(
        full.map((l) => `${l}\r\n`),
        { trustedKeys },
      ).ok,
    ).toBe(true);
  });

  it('without trusted keys uses the keys the export carries, and says so', () => {
    expect(verifyAuditExport(text)).toMatchObject({ ok: true, trusted: false });
  });

  it('holds the export against checkpoints the auditor kept from before', () => {
    const kept = checkpointOf(entries, 15);
    expect(verifyAuditExport(text, { trustedKeys, checkpoints: [kept] })).toMatchObject({ ok: true, checkpoints: 4 });
    const rewritten = writeExport({
      entries: rechain(
        entries.map((e) => (e.seq === 12 ? { ...e, reason: 'rewritten' } : e)),
        12,
      ),
    });
    expect(verifyAuditExport(rewritten, { trustedKeys, checkpoints: [kept] }).problems).toContainEqual(
      expect.objectContaining({ kind: 'checkpoint-mismatch', seq: 15, line: null }),
    );
  });

  it('verifies an empty log', () => {
    expect(verifyAuditExport(writeExport({ entries: [] }), { trustedKeys })).toMatchObject({
      ok: true,
      entries: 0,
      range: null,
      head: { seq: 0, hash: AUDIT_GENESIS_HASH },
    });
  });
});

describe('finding where an export was tampered with', () => {
  it('an edited entry: hash-mismatch at its seq and line', () => {
    const line = lineOfEntry(full, 5);
    const lines = editLine(full, line, (v) => {
      (v.details as Record<string, unknown>).secret = 'changed';
    });
    expect(problemsOf(lines)).toEqual([{ kind: 'hash-mismatch', seq: 5, line }]);
  });

  it('an edited entry given a fresh hash: link-broken at the next entry', () => {
    const line = lineOfEntry(full, 5);
    const lines = editLine(full, line, (v) => {
      v.outcome = 'failure';
      const { kind: _kind, ...entry } = v;
      v.hash = hashAuditEntry(entry as AuditEntry);
    });
    expect(problemsOf(lines)).toEqual([
      { kind: 'link-broken', seq: 6, line: lineOfEntry(full, 6) },
      // The entry now records another hash than the one the hub sealed.
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('history rewritten from an entry on: the signed checkpoints no longer match', () => {
    const forged = rechain(
      entries.map((e) => (e.seq === 5 ? { ...e, outcome: 'failure' as const } : e)),
      5,
    );
    const lines = [...full.slice(0, 3), ...forged.map((e) => JSON.stringify({ kind: 'entry', ...e })), full.at(-1)!];
    expect(problemsOf(lines)).toEqual([
      { kind: 'checkpoint-mismatch', seq: 10, line: 2 },
      { kind: 'checkpoint-mismatch', seq: 20, line: 3 },
      { kind: 'checkpoint-mismatch', seq: 20, line: lines.length },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('a deleted entry: missing-entries at its seq, on the line where it should be, and the seal no longer matches', () => {
    const line = lineOfEntry(full, 7);
    const lines = full.filter((_, i) => i !== line - 1);
    expect(problemsOf(lines)).toEqual([
      { kind: 'missing-entries', seq: 7, line },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('reordered entries: out-of-order at the entry that comes too late, and the seal no longer matches', () => {
    const line8 = lineOfEntry(full, 8);
    const lines = [...full];
    [lines[line8 - 1], lines[line8]] = [lines[line8]!, lines[line8 - 1]!];
    expect(problemsOf(lines)).toEqual([
      { kind: 'out-of-order', seq: 8, line: line8 + 1 },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('a duplicated entry: out-of-order at the copy, and the seal no longer matches', () => {
    const line = lineOfEntry(full, 9);
    const lines = [...full.slice(0, line), full[line - 1]!, ...full.slice(line)];
    expect(problemsOf(lines)).toEqual([
      { kind: 'out-of-order', seq: 9, line: line + 1 },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('a truncated tail without its seal: truncated and unsealed, both on the line after the last', () => {
    const cut = full.slice(0, lineOfEntry(full, 15));
    expect(problemsOf(cut)).toEqual([
      { kind: 'truncated', seq: 16, line: cut.length + 1 },
      { kind: 'unsealed', seq: 20, line: cut.length + 1 },
    ]);
  });

  it('a truncated tail ending in blank lines: the line after the last non-blank one', () => {
    const cut = [...full.slice(0, lineOfEntry(full, 15)), '', '   ', ''];
    expect(problemsOf(cut)).toEqual([
      { kind: 'truncated', seq: 16, line: lineOfEntry(full, 15) + 1 },
      { kind: 'unsealed', seq: 20, line: lineOfEntry(full, 15) + 1 },
    ]);
  });

  it('a truncated tail with the seal put back: truncated at the seal, where the tail belongs, and the seal no longer matches', () => {
    const lines = [...full.slice(0, lineOfEntry(full, 15)), full.at(-1)!];
    expect(problemsOf(lines)).toEqual([
      { kind: 'truncated', seq: 16, line: lines.length },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('a tail of elided entries cut, seal kept: truncated at the seal, whose count of entries carried in full still matches', () => {
    const filtered = writeExport({ entries, checkpoints: [checkpointOf(entries, 20)], targets: [] });
    const lines = [...filtered.slice(0, -2), filtered.at(-1)!];
    expect(problemsOf(lines)).toEqual([{ kind: 'truncated', seq: 1, line: lines.length }]);
  });

  it('a header whose toSeq was lowered: its checkpoints beyond are malformed, and the seal names the edit', () => {
    const lines = editLine(full, 1, (v) => {
      v.toSeq = 15;
    });
    expect(problemsOf(lines)).toEqual([
      { kind: 'malformed', seq: 20, line: 3 },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('a header whose toSeq was raised: truncated at the seal, and the seal names the edit', () => {
    const lines = editLine(full, 1, (v) => {
      v.toSeq = 25;
    });
    expect(problemsOf(lines)).toEqual([
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
      { kind: 'truncated', seq: 21, line: lines.length },
    ]);
  });

  it('a checkpoint beyond toSeq, validly signed: malformed at its line, and no claim that the tail was cut', () => {
    const beyond = checkpointAt(25, entries[19]!.hash);
    const lines = [full[0]!, JSON.stringify({ kind: 'checkpoint', ...beyond }), ...full.slice(1)];
    expect(problemsOf(lines)).toEqual([{ kind: 'malformed', seq: 25, line: 2 }]);
  });

  it('an export with no line at all: unsealed on line 1', () => {
    expect(problemsOf([])).toEqual([{ kind: 'unsealed', seq: null, line: 1 }]);
  });

  it('a forged checkpoint: checkpoint-signature-invalid at its seq and line', () => {
    const lines = editLine(full, 2, (v) => {
      (v.checkpoint as Record<string, unknown>).hash = entries[11]!.hash;
    });
    expect(problemsOf(lines)).toEqual([{ kind: 'checkpoint-signature-invalid', seq: 10, line: 2 }]);
  });

  it('a checkpoint signed by another key under the hub key id: checkpoint-signature-invalid', () => {
    const attacker = generateKeyPair();
    const lines = editLine(full, 3, (v) => {
      v.signature = { ...signPayload('audit-checkpoint', v.checkpoint, attacker), keyId: trustedKeys[0]!.id };
    });
    expect(problemsOf(lines)).toEqual([{ kind: 'checkpoint-signature-invalid', seq: 20, line: 3 }]);
  });

  it('an export made entirely with a key the auditor does not trust: checkpoint-key-unknown for each signature', () => {
    const attacker = auditCheckpointSigner(generateKeyPair());
    const lines = writeExport({ entries, checkpoints: [checkpointOf(entries, 10, attacker)], signer: attacker });
    expect(verifyAuditExport(lines).ok).toBe(true);
    expect(keyIdOf(attacker.publicKey)).not.toBe(trustedKeys[0]!.id);
    expect(problemsOf(lines)).toEqual([
      { kind: 'checkpoint-key-unknown', seq: 10, line: 2 },
      { kind: 'checkpoint-key-unknown', seq: 20, line: lines.length },
    ]);
  });

  it('an edited header: seal-mismatch at the seal', () => {
    const lines = editLine(full, 1, (v) => {
      (v.filter as Record<string, unknown>).targets = [TARGET_A];
    });
    expect(problemsOf(lines)).toEqual([{ kind: 'seal-mismatch', seq: 20, line: full.length }]);
  });

  it('entries cut from the start: missing-entries from seq 1', () => {
    const lines = [...full.slice(0, 3), ...full.slice(lineOfEntry(full, 4) - 1)];
    expect(problemsOf(lines)).toEqual([
      { kind: 'missing-entries', seq: 1, line: 4 },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('time going backwards: time-regression at the entry', () => {
    const regressing = makeChain(6, {
      time: (seq) => new Date(Date.UTC(2025, 0, 1, 0, 0, seq === 4 ? 0 : seq * 10)).toISOString(),
    });
    const lines = writeExport({ entries: regressing });
    expect(problemsOf(lines)).toEqual([{ kind: 'time-regression', seq: 4, line: lineOfEntry(lines, 4) }]);
  });

  it('a line that is not JSON, or of no known kind: malformed at the line', () => {
    const lines = [...full.slice(0, 5), 'not json', '{"kind":"comment"}', ...full.slice(5)];
    expect(problemsOf(lines)).toEqual([
      { kind: 'malformed', seq: null, line: 6 },
      { kind: 'malformed', seq: null, line: 7 },
    ]);
  });

  it('an entry that fails its schema: malformed at the line, then missing', () => {
    const line = lineOfEntry(full, 3);
    const lines = editLine(full, line, (v) => {
      v.action = 'Not A Verb';
    });
    expect(problemsOf(lines)).toEqual([
      { kind: 'malformed', seq: 3, line },
      { kind: 'missing-entries', seq: 3, line: line + 1 },
      { kind: 'seal-mismatch', seq: 20, line: lines.length },
    ]);
  });

  it('an export without its header: malformed on line 1, and nothing to check signatures against', () => {
    const result = verifyAuditExport(full.slice(1));
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(expect.objectContaining({ kind: 'malformed', line: 1 }));
  });

  it('a first line that is not JSON is not skipped over: a header after it does not count', () => {
    const result = verifyAuditExport(['garbage', ...full], { trustedKeys });
    expect(result.problems.slice(0, 2)).toMatchObject([
      { kind: 'malformed', line: 1 },
      { kind: 'malformed', line: 2 },
    ]);
  });

  it('reports each problem once, however many follow', () => {
    const lines = editLine(
      editLine(full, lineOfEntry(full, 3), (v) => (v.reason = 'x')),
      lineOfEntry(full, 17),
      (v) => (v.reason = 'y'),
    );
    expect(problemsOf(lines).map((p) => p.seq)).toEqual([3, 17]);
  });

  it('lists at most maxProblems problems and counts the rest', () => {
    const lines = [...full.slice(0, 3), ...Array.from({ length: 50 }, () => 'garbage'), ...full.slice(3)];
    const result = verifyAuditExport(lines, { trustedKeys, maxProblems: 10 });
    expect(result).toMatchObject({ ok: false, problemsOmitted: 40 });
    expect(result.problems).toHaveLength(10);
  });
});

describe('a filtered export', () => {
  const filtered = writeExport({ entries, checkpoints, targets: [TARGET_A] });

  it('verifies: every left-out entry is present as its body hash', () => {
    expect(verifyAuditExport(filtered, { trustedKeys })).toMatchObject({
      ok: true,
      entries: 10,
      elided: 10,
      checkpoints: 3,
      signedThrough: 20,
    });
  });

  it('carries nothing of the entries it leaves out', () => {
    const joined = filtered.join('\n');
    expect(joined).not.toContain(TARGET_B);
    expect(joined).not.toContain('globex');
    const left = entries.filter((e) => e.subjects.includes(TARGET_B));
    // The loop below says nothing about a chain with no such entries.
    expect(left.length).toBeGreaterThan(0);
    for (const entry of left) {
      // Its link hash is public (the next entry's prevHash) but reveals no more than the body hash.
      expect(joined).not.toContain(entry.salt);
      expect(joined).not.toContain(entry.details.secret as string);
    }
  });

  it('a deleted elided run: missing-entries only, since the seal counts the entries carried in full', () => {
    const line = lineOfEntry(filtered, 3) - 1;
    const lines = filtered.filter((_, i) => i !== line - 1);
    expect(problemsOf(lines)).toEqual([{ kind: 'missing-entries', seq: 2, line }]);
  });

  it('groups consecutive left-out entries into one elided line', () => {
    const only = writeExport({ entries, targets: [TARGET_A], checkpoints: [] }).filter((l) =>
      l.includes('"kind":"elided"'),
    );
    const one = writeExport({ entries, targets: [], checkpoints: [] }).filter((l) => l.includes('"kind":"elided"'));
    expect(only).toHaveLength(10);
    expect(one).toHaveLength(1);
    expect(verifyAuditExport(writeExport({ entries, targets: [] }), { trustedKeys })).toMatchObject({
      ok: true,
      entries: 0,
      elided: 20,
    });
  });

  it('an included entry turned into an elided one after sealing: seal-mismatch', () => {
    const line = lineOfEntry(filtered, 3);
    const entry3 = entries[2]!;
    const { prevHash: _p, hash: _h, ...body } = entry3;
    // Merge seq 2 (elided), 3 (now elided) and 4 (elided) into one run, as a forger would.
    const run = JSON.parse(filtered[line - 2]!) as { seq: number; bodyHashes: string[] };
    const next = JSON.parse(filtered[line]!) as { seq: number; bodyHashes: string[] };
    const merged = JSON.stringify({
      kind: 'elided',
      seq: run.seq,
      bodyHashes: [...run.bodyHashes, hashBody(body), ...next.bodyHashes],
    });
    const lines = [...filtered.slice(0, line - 2), merged, ...filtered.slice(line + 1)];
    expect(problemsOf(lines)).toEqual([{ kind: 'seal-mismatch', seq: 20, line: lines.length }]);
  });
});

describe('an export of a pruned log', () => {
  // Entries 1–10 were pruned; the hub signed a checkpoint over entry 10 as the new start.
  const anchor = checkpointOf(entries, 10);
  const remaining = entries.filter((e) => e.seq > 10);
  const base = { seq: 10, hash: entries[9]!.hash };

  it('verifies, the anchor vouching for the first remaining prevHash', () => {
    const lines = writeExport({ entries: remaining, base, checkpoints: [anchor, checkpointOf(entries, 20)] });
    expect(verifyAuditExport(lines, { trustedKeys })).toMatchObject({
      ok: true,
      entries: 10,
      range: { from: 11, to: 20 },
    });
  });

  it('verifies without the anchor line too: the sealed header names the base', () => {
    const lines = writeExport({ entries: remaining, base, checkpoints: [checkpointOf(entries, 20)] });
    expect(verifyAuditExport(lines, { trustedKeys })).toMatchObject({ ok: true });
  });

  it('entries cut right after the anchor: missing-entries from seq 11', () => {
    const lines = writeExport({ entries: remaining, base, checkpoints: [anchor] });
    const cut = lines.filter((_, i) => i + 1 !== lineOfEntry(lines, 11) && i + 1 !== lineOfEntry(lines, 12));
    expect(problemsOf(cut)).toEqual([
      { kind: 'missing-entries', seq: 11, line: 3 },
      { kind: 'seal-mismatch', seq: 20, line: cut.length },
    ]);
  });

  it('a checkpoint before the base: malformed at its line', () => {
    const lines = writeExport({ entries: remaining, base, checkpoints: [anchor, checkpointOf(entries, 5)] });
    expect(problemsOf(lines)).toEqual([{ kind: 'malformed', seq: 5, line: 3 }]);
  });

  it('a checkpoint the auditor kept from outside the range is ignored: the export does not speak of those entries', () => {
    const lines = writeExport({ entries: remaining.filter((e) => e.seq <= 15), base, checkpoints: [anchor] });
    const kept = [checkpointOf(entries, 5), checkpointOf(entries, 20)];
    expect(verifyAuditExport(lines, { trustedKeys, checkpoints: kept })).toMatchObject({
      ok: true,
      range: { from: 11, to: 15 },
    });
  });
});

/** A body hash recomputed the way the format document says, not through the library. */
function hashBody(body: Omit<AuditEntry, 'prevHash' | 'hash'>): string {
  return `sha256:${createHash('sha256').update(canonicalize(body), 'utf8').digest('hex')}`;
}

describe('tampered exports, at random', () => {
  type Tamper = 'delete' | 'swap' | 'duplicate' | 'cut-keep-seal' | 'cut';
  const chainLines = (lines: readonly string[]): number[] =>
    lines.flatMap((line, i) => (/"kind":"(entry|elided)"/.test(line) ? [i] : []));
  const carriesEntry = (line: string | undefined): boolean => line !== undefined && line.includes('"kind":"entry"');

  it('are refused, every problem names a line of the file or the one after it, and a touched entry carried in full breaks the seal', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 12 }),
        fc.boolean(),
        fc.constantFrom<Tamper>('delete', 'swap', 'duplicate', 'cut-keep-seal', 'cut'),
        fc.nat(),
        fc.nat(),
        (count, filtered, tamper, a, b) => {
          const chain = makeChain(count);
          const lines = writeExport({
            entries: chain,
            checkpoints: [checkpointOf(chain, count)],
            ...(filtered ? { targets: [TARGET_A] } : {}),
          });
          const positions = chainLines(lines);
          const i = positions[a % positions.length]!;
          const j = positions[b % positions.length]!;
          let tampered: string[];
          let touched: boolean;
          switch (tamper) {
            case 'delete':
              tampered = lines.filter((_, k) => k !== i);
              touched = carriesEntry(lines[i]);
              break;
            case 'swap':
              fc.pre(i !== j);
              tampered = [...lines];
              [tampered[i], tampered[j]] = [lines[j]!, lines[i]!];
              touched = carriesEntry(lines[i]) && carriesEntry(lines[j]);
              break;
            case 'duplicate':
              tampered = [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)];
              touched = carriesEntry(lines[i]);
              break;
            case 'cut-keep-seal':
              tampered = [...lines.slice(0, i), lines.at(-1)!];
              touched = lines.slice(i, -1).some(carriesEntry);
              break;
            case 'cut':
              tampered = lines.slice(0, i);
              touched = false;
          }
          const result = verifyAuditExport(tampered, { trustedKeys });
          expect(result.ok).toBe(false);
          for (const problem of result.problems) {
            expect(problem.line, problem.kind).not.toBeNull();
            expect(problem.line!).toBeGreaterThanOrEqual(1);
            expect(problem.line!).toBeLessThanOrEqual(tampered.length + 1);
          }
          if (touched)
            expect(result.problems).toContainEqual(
              expect.objectContaining({ kind: 'seal-mismatch', line: tampered.length }),
            );
          if (tamper === 'cut')
            expect(result.problems).toContainEqual(
              expect.objectContaining({ kind: 'unsealed', line: tampered.length + 1 }),
            );
        },
      ),
      { numRuns: 300 },
    );
  });
});
