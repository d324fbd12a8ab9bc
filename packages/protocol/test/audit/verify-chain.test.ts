import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.ts';
import {
  AUDIT_GENESIS_HASH,
  assertAuditVerified,
  auditCheckpointSigner,
  verifyAuditChain,
} from '../../src/audit/index.ts';
import { checkpointAt, checkpointOf, makeChain, trustedKeys } from './audit-fixture.ts';

const entries = makeChain(12);
const problemsOf = (result: ReturnType<typeof verifyAuditChain>) =>
  result.problems.map(({ kind, seq }) => ({ kind, seq }));

describe('verifying a chain of entries and checkpoints', () => {
  it('accepts a complete log from entry 1, its checkpoints in any order', () => {
    const checkpoints = [checkpointOf(entries, 12), checkpointOf(entries, 4)];
    expect(verifyAuditChain(entries, { checkpoints, trustedKeys })).toMatchObject({
      ok: true,
      entries: 12,
      checkpoints: 2,
      signedThrough: 12,
      trusted: true,
    });
  });

  it('accepts raw JSON, as read from a file or a database', () => {
    const raw = entries.map((e) => JSON.parse(JSON.stringify(e)) as unknown);
    expect(verifyAuditChain(raw, { trustedKeys }).ok).toBe(true);
  });

  it('says how far signatures reach: entries after the last checkpoint are linked, not signed', () => {
    expect(verifyAuditChain(entries, { checkpoints: [checkpointOf(entries, 8)], trustedKeys })).toMatchObject({
      ok: true,
      signedThrough: 8,
    });
    expect(verifyAuditChain(entries, { trustedKeys })).toMatchObject({ ok: true, signedThrough: null });
  });

  it('a checkpoint at seq 0 over the genesis hash vouches for the empty log', () => {
    const genesis = checkpointAt(0, AUDIT_GENESIS_HASH);
    expect(verifyAuditChain([], { checkpoints: [genesis], trustedKeys })).toMatchObject({
      ok: true,
      entries: 0,
      checkpoints: 1,
      range: null,
      head: { seq: 0, hash: AUDIT_GENESIS_HASH },
    });
  });

  it('an entry 1 that does not start from the genesis hash: link-broken at seq 1', () => {
    const tail = makeChain(3, { after: { seq: 0, hash: entries[5]!.hash } });
    expect(problemsOf(verifyAuditChain(tail, { trustedKeys }))).toEqual([{ kind: 'link-broken', seq: 1 }]);
  });

  it('an entry that is not an entry: malformed, with its seq when it has one', () => {
    const broken = [...entries.slice(0, 3), { ...entries[3]!, outcome: 'maybe' }, ...entries.slice(4)];
    expect(problemsOf(verifyAuditChain(broken, { trustedKeys }))).toEqual([
      { kind: 'malformed', seq: 4 },
      { kind: 'missing-entries', seq: 4 },
    ]);
  });

  it('assertAuditVerified throws AUDIT_CHAIN_BROKEN for chain problems and AUDIT_CHECKPOINT_INVALID for signatures alone', () => {
    const deleted = entries.filter((e) => e.seq !== 6);
    expect(() => assertAuditVerified(verifyAuditChain(deleted, { trustedKeys }))).toThrow(
      expect.objectContaining({ code: 'AUDIT_CHAIN_BROKEN' }),
    );
    const foreign = checkpointOf(entries, 12, auditCheckpointSigner(generateKeyPair()));
    expect(() => assertAuditVerified(verifyAuditChain(entries, { checkpoints: [foreign], trustedKeys }))).toThrow(
      expect.objectContaining({ code: 'AUDIT_CHECKPOINT_INVALID' }),
    );
    expect(() => assertAuditVerified(verifyAuditChain(entries, { trustedKeys }))).not.toThrow();
  });
});

describe('a pruned log', () => {
  // Retention removed entries 1–5; the hub signed a checkpoint over entry 5 as the anchor.
  const remaining = entries.filter((e) => e.seq > 5);
  const anchor = checkpointOf(entries, 5);

  it('verifies: the anchor vouches for the first remaining prevHash', () => {
    expect(
      verifyAuditChain(remaining, { checkpoints: [anchor, checkpointOf(entries, 12)], trustedKeys }),
    ).toMatchObject({ ok: true, entries: 7, range: { from: 6, to: 12 } });
  });

  it('without the anchor: unanchored-start at the first remaining entry', () => {
    expect(problemsOf(verifyAuditChain(remaining, { checkpoints: [checkpointOf(entries, 12)], trustedKeys }))).toEqual([
      { kind: 'unanchored-start', seq: 6 },
    ]);
  });

  it('cut further than the anchor: unanchored-start, since the anchor names another entry', () => {
    expect(problemsOf(verifyAuditChain(remaining.slice(2), { checkpoints: [anchor], trustedKeys }))).toEqual([
      { kind: 'unanchored-start', seq: 8 },
    ]);
  });

  it('with a forged anchor: checkpoint-signature-invalid, and the start stays unanchored', () => {
    const forged = { ...anchor, checkpoint: { ...anchor.checkpoint, time: '2030-01-01T00:00:00.000Z' } };
    expect(problemsOf(verifyAuditChain(remaining, { checkpoints: [forged], trustedKeys }))).toEqual([
      { kind: 'checkpoint-signature-invalid', seq: 5 },
      { kind: 'unanchored-start', seq: 6 },
    ]);
  });
});
