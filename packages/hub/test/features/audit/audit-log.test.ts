import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateKeyPair, keyIdOf, verifyPayload, type KeyPair } from '@flotilla/protocol';
import { AUDIT_GENESIS_HASH, verifyAuditExport, type AuditEntry } from '@flotilla/protocol/audit';
import { AuditLog } from '../../../src/features/audit/audit-log.ts';
import type { Db } from '../../../src/store/database.ts';
import { openPostgres } from '../../../src/store/postgres/postgres-database.ts';
import { STORE_KINDS, createPostgresDatabase, type OpenedStore, type StoreKind } from '../../store-kinds.ts';

const REPLICA = fileURLToPath(new URL('./audit-replica.ts', import.meta.url));
const T0 = Date.parse('2025-03-01T00:00:00.000Z');
const A = 'tgt_aaaaaaaaaaaaaaaaaaaa';
const B = 'tgt_bbbbbbbbbbbbbbbbbbbb';
const C = 'tgt_cccccccccccccccccccc';
const alice = { kind: 'user', id: 'alice' } as const;
const bob = { kind: 'user', id: 'bob' } as const;

let db: Db;
let now: number;
let hubKey: KeyPair;
let audit: AuditLog;
const trusted = () => [{ id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey }];

/**
 * A migrated store of `kind` for each test: a fresh SQLite file each time; one PostgreSQL
 * database for the whole suite, emptied of audit rows (and its triggers enabled) before each.
 */
function useStore(kind: StoreKind): void {
  let opened: OpenedStore | undefined;
  if (kind.name === 'postgres') {
    beforeAll(() => {
      opened = kind.open();
    });
    afterAll(() => opened?.close());
    beforeEach(() => {
      db = opened!.db;
      db.exec(
        'ALTER TABLE audit_entries ENABLE TRIGGER ALL; TRUNCATE audit_entries, audit_subjects, audit_checkpoints, audit_anchors, meta RESTART IDENTITY',
      );
    });
  } else {
    beforeEach(() => {
      opened = kind.open();
      db = opened.db;
    });
    afterEach(() => opened?.close());
  }
  beforeEach(() => {
    now = T0;
    hubKey = generateKeyPair();
    audit = new AuditLog({ db, clock: () => now, signer: hubKey });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

describe.each(STORE_KINDS.map((kind) => [kind.name, kind] as const))('on %s', (name, kind) => {
  describe.skipIf(!kind.available())('the audit log', () => {
    useStore(kind);

    /** Appends `n` label changes, one second apart, alternating targets A and B. */
    function seed(n: number): AuditEntry[] {
      const out: AuditEntry[] = [];
      for (let i = 0; i < n; i++) {
        now += 1000;
        out.push(
          audit.append({
            actor: i % 3 === 0 ? bob : alice,
            action: 'target.label',
            subjects: [i % 2 === 0 ? A : B],
            details: { i, customer: i % 2 === 0 ? 'acme' : 'globex' },
          }),
        );
      }
      return out;
    }

    describe('appending', () => {
      it('links the first entry to the genesis hash and each next one to the entry before', () => {
        const first = audit.append({ actor: alice, action: 'target.label', subjects: [A] });
        const second = audit.append({ actor: alice, action: 'target.disable', subjects: [A] });
        expect(first).toMatchObject({ seq: 1, prevHash: AUDIT_GENESIS_HASH });
        expect(second).toMatchObject({ seq: 2, prevHash: first.hash });
        expect(audit.head).toEqual({ seq: 2, hash: second.hash });
        expect(audit.verify()).toMatchObject({ ok: true, entries: 2 });
      });

      it('fills in the defaults: outcome success, reason null, subjects sorted and distinct, undefined details dropped', () => {
        const entry = audit.append({
          actor: alice,
          action: 'target.label',
          subjects: [B, A, B],
          details: { to: 'prod', note: undefined },
        });
        expect(entry).toMatchObject({
          outcome: 'success',
          reason: null,
          subjects: [A, B],
          details: { to: 'prod' },
          time: new Date(T0).toISOString(),
        });
        expect(entry.details).not.toHaveProperty('note');
        expect(entry.salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
      });

      it('records refused attempts with their reason', () => {
        const entry = audit.append({
          actor: { kind: 'agent', id: 'unknown' },
          action: 'token.issue',
          outcome: 'refused',
          reason: 'SIGNATURE_INVALID',
          details: { remote: '10.0.0.7' },
        });
        expect(entry).toMatchObject({ outcome: 'refused', reason: 'SIGNATURE_INVALID', subjects: [] });
      });

      it('never dates an entry before the one before it, even when the clock steps back', () => {
        now = T0 + 60_000;
        const first = audit.append({ actor: alice, action: 'target.label' });
        now = T0;
        const second = audit.append({ actor: alice, action: 'target.label' });
        expect(second.time).toBe(first.time);
        expect(audit.verify().ok).toBe(true);
      });

      it.each([
        ['an action that is not a dotted verb', { actor: alice, action: 'Label' }],
        ['a subject that is not a target id', { actor: alice, action: 'target.label', subjects: ['web-1'] }],
        ['an actor of unknown kind', { actor: { kind: 'robot', id: 'r2' }, action: 'target.label' }],
        ['details that are not JSON', { actor: alice, action: 'target.label', details: { at: new Date() } }],
        ['details too large to audit', { actor: alice, action: 'target.label', details: { blob: 'x'.repeat(70_000) } }],
      ])('refuses %s with VALIDATION_FAILED and appends nothing', (_name, input) => {
        expect(() => audit.append(input as never)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
        expect(audit.head).toEqual({ seq: 0, hash: AUDIT_GENESIS_HASH });
      });

      it("commits with the caller's transaction", () => {
        db.transaction(() => {
          db.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
          audit.append({ actor: alice, action: 'meta.set' });
        })();
        expect(audit.head.seq).toBe(1);
      });

      it("rolls back with the caller's transaction, and the next entry takes the rolled-back seq", () => {
        audit.append({ actor: alice, action: 'target.label' });
        expect(() =>
          db.transaction(() => {
            audit.append({ actor: alice, action: 'target.label', subjects: [A] });
            throw new Error('the state change failed');
          })(),
        ).toThrow('the state change failed');
        expect(audit.head.seq).toBe(1);
        const next = audit.append({ actor: alice, action: 'target.label' });
        expect(next.seq).toBe(2);
        expect(audit.query({ targets: [A] }).entries).toEqual([]);
        expect(audit.verify().ok).toBe(true);
      });

      it('appends a batch in one transaction', () => {
        const entries = audit.appendMany(
          [A, B, C].map((id) => ({ actor: alice, action: 'rollout.wave', subjects: [id] })),
        );
        expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
        expect(entries[2]!.prevHash).toBe(entries[1]!.hash);
        expect(audit.verify().ok).toBe(true);
      });

      it.runIf(name === 'sqlite')(
        'does not fork the chain when another writer moved the head: it rebuilds on the stored head',
        () => {
          const logged: Record<string, unknown>[] = [];
          const log = pino(
            { level: 'warn' },
            { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) },
          );
          const mine = new AuditLog({ db, clock: () => now, signer: hubKey, log });
          const other = new AuditLog({ db, clock: () => now, signer: hubKey });
          mine.append({ actor: alice, action: 'target.label' });
          other.append({ actor: bob, action: 'target.label' });
          const third = mine.append({ actor: alice, action: 'target.label' });
          expect(third.seq).toBe(3);
          expect(logged).toEqual([
            expect.objectContaining({
              level: 40,
              component: 'audit',
              seq: 1,
              msg: 'audit head was stale; rebuilding the entry on the stored head',
            }),
          ]);
          expect(audit.verify()).toMatchObject({ ok: true, entries: 3 });
        },
      );

      it('is guarded by the database: entries cannot be edited, deleted or appended off the chain', () => {
        const entry = audit.append({ actor: alice, action: 'target.label' });
        expect(() => db.prepare("UPDATE audit_entries SET outcome = 'failure'").run()).toThrow(/append-only/);
        expect(() => db.prepare('DELETE FROM audit_entries').run()).toThrow(/pruning behind a signed anchor/);
        const forged =
          db.prepare(`INSERT INTO audit_entries (seq, time_ms, actor_kind, actor_id, action, outcome, hash, prev_hash, entry)
          VALUES (2, ?, 'user', 'mallory', 'target.label', 'success', ?, ?, '{}')`);
        expect(() => forged.run(now, entry.hash, AUDIT_GENESIS_HASH)).toThrow(/does not extend the chain/);
        expect(() => forged.run(now - 1, entry.hash, entry.hash)).toThrow(/time must not go back/);
      });
    });

    describe('querying', () => {
      beforeEach(() => {
        seed(10);
        now += 1000;
        audit.append({
          actor: { kind: 'agent', id: A },
          action: 'report.failed',
          subjects: [A],
          outcome: 'failure',
          reason: 'DRIVER_FAILED',
        });
        audit.append({
          actor: { kind: 'agent', id: 'unknown' },
          action: 'enroll.refused',
          outcome: 'refused',
          reason: 'ENROLL_TOKEN_INVALID',
        });
        audit.append({ actor: alice, action: 'rollout.start', subjects: [A, C] });
      });
      const seqs = (page: { entries: AuditEntry[] }) => page.entries.map((e) => e.seq);

      it("reads a target's history, newest first", () => {
        expect(seqs(audit.query({ targets: [A] }))).toEqual([13, 11, 9, 7, 5, 3, 1]);
        expect(seqs(audit.query({ targets: [C] }))).toEqual([13]);
      });

      it('matches any of several targets, each entry once', () => {
        expect(seqs(audit.query({ targets: [B, C] }, { order: 'asc' }))).toEqual([2, 4, 6, 8, 10, 13]);
      });

      it('an empty list of targets matches nothing', () => {
        expect(audit.query({ targets: [] })).toEqual({ entries: [], nextCursor: null });
      });

      it('filters by actor, action (exact or prefix) and outcome', () => {
        expect(seqs(audit.query({ actor: { id: 'bob' } }))).toEqual([10, 7, 4, 1]);
        expect(seqs(audit.query({ actor: { kind: 'agent' } }))).toEqual([12, 11]);
        expect(seqs(audit.query({ action: 'report.failed' }))).toEqual([11]);
        expect(seqs(audit.query({ action: 'r.*' }))).toEqual([]);
        expect(seqs(audit.query({ action: 'rollout.*' }))).toEqual([13]);
        expect(seqs(audit.query({ outcome: 'refused' }))).toEqual([12]);
        expect(seqs(audit.query({ outcome: ['refused', 'failure'] }))).toEqual([12, 11]);
        expect(seqs(audit.query({ actor: { id: 'alice' }, targets: [A] }))).toEqual([13, 9, 5, 3]);
      });

      it('filters by time: since inclusive, until exclusive', () => {
        expect(
          seqs(audit.query({ since: new Date(T0 + 3000), until: new Date(T0 + 6000).toISOString() }, { order: 'asc' })),
        ).toEqual([3, 4, 5]);
        expect(seqs(audit.query({ since: T0 + 100_000 }))).toEqual([]);
      });

      it('pages by seq with a cursor, in either order, until nextCursor is null', () => {
        for (const order of ['desc', 'asc'] as const) {
          const seen: number[] = [];
          let page = audit.query({}, { limit: 4, order });
          seen.push(...seqs(page));
          while (page.nextCursor !== null) {
            page = audit.query({}, { limit: 4, order, cursor: page.nextCursor });
            seen.push(...seqs(page));
          }
          const all = Array.from({ length: 13 }, (_, i) => i + 1);
          expect(seen).toEqual(order === 'asc' ? all : all.reverse());
        }
      });

      it('keeps pages stable while entries are appended between them', () => {
        const first = audit.query({ targets: [A] }, { limit: 3 });
        audit.append({ actor: alice, action: 'target.label', subjects: [A] });
        const second = audit.query({ targets: [A] }, { limit: 3, cursor: first.nextCursor });
        expect([...seqs(first), ...seqs(second)]).toEqual([13, 11, 9, 7, 5, 3]);
      });

      it('refuses a cursor it did not issue, or one issued for the other order', () => {
        expect(() => audit.query({}, { cursor: 'bogus' })).toThrow(
          expect.objectContaining({ code: 'AUDIT_CURSOR_INVALID' }),
        );
        const { nextCursor } = audit.query({}, { limit: 2, order: 'asc' });
        expect(() => audit.query({}, { cursor: nextCursor, order: 'desc' })).toThrow(
          expect.objectContaining({ code: 'AUDIT_CURSOR_INVALID' }),
        );
      });

      it.runIf(name === 'sqlite')(
        "reads a target's history through the subjects primary key, without scanning the log",
        () => {
          const plan = db
            .prepare(
              `EXPLAIN QUERY PLAN SELECT e.entry AS entry FROM audit_subjects s JOIN audit_entries e ON e.seq = s.seq
          WHERE s.target_id = ? AND s.seq BETWEEN ? AND ? ORDER BY s.seq DESC LIMIT ?`,
            )
            .all(A, 1, 100, 10) as { detail: string }[];
          const details = plan.map((p) => p.detail).join('\n');
          expect(details).toMatch(/SEARCH s USING PRIMARY KEY \(target_id=\? AND seq>\? AND seq<\?\)/);
          expect(details).not.toMatch(/SCAN|TEMP B-TREE/);
        },
      );
    });

    describe('checkpoints', () => {
      it('signs the head with the hub key and keeps the checkpoint', () => {
        const [, second] = seed(2);
        const signed = audit.checkpoint();
        expect(signed.checkpoint).toEqual({
          apiVersion: 'flotilla.io/v1',
          kind: 'AuditCheckpoint',
          seq: 2,
          hash: second!.hash,
          time: new Date(now).toISOString(),
        });
        expect(verifyPayload('audit-checkpoint', signed.checkpoint, signed.signature, hubKey.publicKey)).toBe(true);
        expect(audit.verify()).toMatchObject({ ok: true, checkpoints: 1, signedThrough: 2 });
      });

      it('signs the empty log at seq 0 over the genesis hash', () => {
        expect(audit.checkpoint().checkpoint).toMatchObject({ seq: 0, hash: AUDIT_GENESIS_HASH });
        expect(audit.verify()).toMatchObject({ ok: true, checkpoints: 1 });
      });

      it('on the interval, signs only when the head moved', () => {
        seed(1);
        expect(audit.checkpointIfAdvanced()?.checkpoint.seq).toBe(1);
        expect(audit.checkpointIfAdvanced()).toBeUndefined();
        seed(1);
        expect(audit.checkpointIfAdvanced()?.checkpoint.seq).toBe(2);
      });

      it('runs on a timer until stopped', () => {
        vi.useFakeTimers();
        const stop = audit.scheduleCheckpoints(60_000);
        seed(1);
        vi.advanceTimersByTime(60_000);
        vi.advanceTimersByTime(60_000);
        seed(1);
        vi.advanceTimersByTime(60_000);
        stop();
        seed(1);
        vi.advanceTimersByTime(60_000);
        const rows = db.prepare('SELECT seq, reason FROM audit_checkpoints ORDER BY id').all();
        expect(rows).toEqual([
          { seq: 1, reason: 'interval' },
          { seq: 2, reason: 'interval' },
        ]);
      });

      it('refuses to sign inside a transaction, where the entries might yet roll back', () => {
        expect(() => db.transaction(() => audit.checkpoint())()).toThrow(TypeError);
      });
    });

    describe('exporting', () => {
      it('writes a JSONL export that verifies offline against the hub key', () => {
        seed(6);
        audit.checkpoint();
        seed(4);
        const text = audit.export();
        expect(verifyAuditExport(text, { trustedKeys: trusted() })).toMatchObject({
          ok: true,
          entries: 10,
          elided: 0,
          range: { from: 1, to: 10 },
          signedThrough: 10,
          trusted: true,
        });
        const kinds = text
          .trimEnd()
          .split('\n')
          .map((l) => (JSON.parse(l) as { kind: string }).kind);
        expect(kinds).toEqual(['header', 'checkpoint', 'checkpoint', ...Array<string>(10).fill('entry'), 'seal']);
      });

      it('signs and keeps a head checkpoint at every export', () => {
        seed(3);
        audit.export();
        expect(db.prepare('SELECT seq, reason FROM audit_checkpoints').all()).toEqual([{ seq: 3, reason: 'export' }]);
      });

      it("filtered to one customer's targets, carries only theirs and still verifies", () => {
        seed(10);
        const text = audit.export({ targets: [A] });
        expect(verifyAuditExport(text, { trustedKeys: trusted() })).toMatchObject({
          ok: true,
          entries: 5,
          elided: 5,
          signedThrough: 10,
        });
        expect(text).not.toContain(B);
        expect(text).not.toContain('globex');
      });

      it('over a time window, covers exactly the entries inside it', () => {
        seed(10);
        const text = audit.export({ since: new Date(T0 + 3000), until: new Date(T0 + 7000) });
        expect(verifyAuditExport(text, { trustedKeys: trusted() })).toMatchObject({
          ok: true,
          entries: 4,
          range: { from: 3, to: 6 },
        });
      });

      it('over an empty window, is still a verifiable (empty) export', () => {
        seed(3);
        const text = audit.export({ since: new Date(T0 + 100_000) });
        expect(verifyAuditExport(text, { trustedKeys: trusted() })).toMatchObject({
          ok: true,
          entries: 0,
          range: null,
        });
      });

      it('streams lines lazily, header first, each ending in a newline', () => {
        seed(2);
        const lines = audit.exportLines();
        const first = lines.next();
        expect(first.done).toBe(false);
        expect(JSON.parse(first.value as string)).toMatchObject({ kind: 'header', toSeq: 2 });
        expect([...lines].every((l) => l.endsWith('\n'))).toBe(true);
      });

      it('is caught when edited after it left the hub', () => {
        seed(5);
        const text = audit.export().replace('"customer":"acme"', '"customer":"initech"');
        expect(verifyAuditExport(text, { trustedKeys: trusted() }).problems).toEqual([
          expect.objectContaining({ kind: 'hash-mismatch', seq: 1, line: 3 }),
        ]);
      });

      it('after a hub key rotation carries both keys, and needs both to verify', () => {
        seed(2);
        audit.checkpoint();
        const newKey = generateKeyPair();
        const rotated = new AuditLog({ db, clock: () => now, signer: newKey });
        now += 1000;
        rotated.append({ actor: alice, action: 'target.label' });
        const text = rotated.export();
        const header = JSON.parse(text.slice(0, text.indexOf('\n'))) as { keys: unknown[] };
        expect(header.keys).toHaveLength(2);
        const both = [...trusted(), { id: keyIdOf(newKey.publicKey), publicKey: newKey.publicKey }];
        expect(verifyAuditExport(text, { trustedKeys: both }).ok).toBe(true);
        expect(verifyAuditExport(text, { trustedKeys: both.slice(1) }).problems).toEqual([
          expect.objectContaining({ kind: 'checkpoint-key-unknown', seq: 2 }),
        ]);
      });
    });

    describe('pruning', () => {
      it('removes the entries older than the cutoff behind a signed anchor; what remains verifies', () => {
        seed(10);
        audit.checkpoint();
        const result = audit.prune({ olderThan: new Date(T0 + 5500) });
        expect(result.removed).toBe(5);
        expect(result.anchor?.checkpoint).toMatchObject({ seq: 5 });
        expect(audit.query({}, { order: 'asc', limit: 1 }).entries[0]?.seq).toBe(6);
        expect(audit.verify()).toMatchObject({ ok: true, range: { from: 6, to: 11 } });
        expect(verifyAuditExport(audit.export(), { trustedKeys: trusted() })).toMatchObject({
          ok: true,
          range: { from: 6, to: 11 },
        });
      });

      it('records the prune itself in the log', () => {
        seed(4);
        audit.prune({ olderThan: T0 + 2500, actor: bob });
        expect(audit.query({ action: 'audit.prune' }).entries[0]).toMatchObject({
          seq: 5,
          actor: bob,
          details: { throughSeq: 2, removed: 2 },
        });
      });

      it('does nothing when no entry is old enough, or when run again', () => {
        seed(4);
        expect(audit.prune({ olderThan: T0 })).toEqual({ removed: 0, anchor: null });
        audit.prune({ olderThan: T0 + 2500 });
        expect(audit.prune({ olderThan: T0 + 2500 })).toEqual({ removed: 0, anchor: null });
      });

      it('can remove every entry, and the chain continues from the anchor', () => {
        const old = seed(3);
        audit.prune({ olderThan: now + 1 });
        const next = audit.append({ actor: alice, action: 'target.label' });
        expect(next.seq).toBe(5);
        expect(audit.verify()).toMatchObject({ ok: true, range: { from: 4, to: 5 } });
        expect(old[2]!.hash).toBe(
          JSON.parse((db.prepare('SELECT signed FROM audit_anchors WHERE seq = 3').get() as { signed: string }).signed)
            .checkpoint.hash,
        );
      });

      it('leaves a log whose start an auditor can check: without the anchor it is unanchored', () => {
        seed(6);
        audit.prune({ olderThan: T0 + 3500 });
        db.exec("DELETE FROM audit_checkpoints WHERE reason = 'prune'");
        expect(audit.verify().problems).toEqual([expect.objectContaining({ kind: 'unanchored-start', seq: 4 })]);
      });
    });

    describe('verifying the store', () => {
      it('finds an entry edited behind the triggers, by seq', () => {
        seed(5);
        db.exec(
          name === 'sqlite'
            ? 'DROP TRIGGER audit_entries_immutable'
            : 'ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_immutable',
        );
        db.exec(
          `UPDATE audit_entries SET entry = replace(entry, '"customer":"acme"', '"customer":"initech"') WHERE seq = 3`,
        );
        expect(audit.verify().problems).toEqual([expect.objectContaining({ kind: 'hash-mismatch', seq: 3 })]);
      });
    });
  });
});

describe.skipIf(!STORE_KINDS[1]!.available())('two replicas appending to one PostgreSQL database', () => {
  let database: ReturnType<typeof createPostgresDatabase>;
  let first: Db;
  let second: Db;
  let one: AuditLog;
  let two: AuditLog;

  beforeEach(() => {
    database = createPostgresDatabase();
    first = openPostgres(database.url, 'audit-replica-1');
    second = openPostgres(database.url, 'audit-replica-2');
    now = T0;
    hubKey = generateKeyPair();
    one = new AuditLog({ db: first, clock: () => now, signer: hubKey });
    two = new AuditLog({ db: second, clock: () => now, signer: hubKey });
  });

  afterEach(() => {
    first.close();
    second.close();
    database.drop();
  });

  /** Every stored entry, in seq order. */
  function stored(): AuditEntry[] {
    return (first.prepare('SELECT entry FROM audit_entries ORDER BY seq').all() as { entry: string }[]).map(
      (row) => JSON.parse(row.entry) as AuditEntry,
    );
  }

  it('make one chain, with no gap or fork, when they append in turn', () => {
    const appended: AuditEntry[] = [];
    for (let i = 0; i < 6; i++) {
      now += 1000;
      const replica = i % 2 === 0 ? one : two;
      appended.push(replica.append({ actor: alice, action: 'target.label', subjects: [A], details: { i } }));
      appended.push(
        ...replica.appendMany([B, C].map((id) => ({ actor: bob, action: 'rollout.wave', subjects: [id] }))),
      );
    }
    const entries = stored();
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    expect(entries.map((e) => e.hash)).toEqual(appended.map((e) => e.hash));
    entries.forEach((entry, i) => expect(entry.prevHash).toBe(i === 0 ? AUDIT_GENESIS_HASH : entries[i - 1]!.hash));
    expect(one.verify()).toMatchObject({ ok: true, entries: 18 });
    expect(two.head).toEqual(one.head);
  });

  it("extend the other replica's head inside a caller's transaction, and a rollback leaves no gap", () => {
    one.append({ actor: alice, action: 'target.label' });
    const inside = second.transaction(() => {
      second.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
      return two.append({ actor: bob, action: 'meta.set' });
    })();
    expect(inside.seq).toBe(2);
    expect(() =>
      first.transaction(() => {
        one.append({ actor: alice, action: 'target.label', subjects: [A] });
        throw new Error('the state change failed');
      })(),
    ).toThrow('the state change failed');
    expect(two.append({ actor: bob, action: 'target.label' }).seq).toBe(3);
    expect(one.append({ actor: alice, action: 'target.label' }).seq).toBe(4);
    expect(one.verify()).toMatchObject({ ok: true, entries: 4 });
  });

  it("checkpoint, prune and export over the other replica's entries, and the chain still verifies", () => {
    for (let i = 0; i < 4; i++) {
      now += 1000;
      (i % 2 === 0 ? one : two).append({ actor: alice, action: 'target.label', subjects: [A] });
    }
    expect(two.checkpoint().checkpoint.seq).toBe(4);
    expect(one.prune({ olderThan: T0 + 2500 })).toMatchObject({ removed: 2 });
    now += 1000;
    expect(two.append({ actor: bob, action: 'target.label' }).seq).toBe(6);
    expect(one.checkpointIfAdvanced()?.checkpoint.seq).toBe(6);
    expect(two.checkpointIfAdvanced()).toBeUndefined();
    expect(two.verify()).toMatchObject({ ok: true, range: { from: 3, to: 6 } });
    expect(verifyAuditExport(one.export(), { trustedKeys: trusted() })).toMatchObject({
      ok: true,
      range: { from: 3, to: 6 },
    });
  });

  it('make one chain when two processes append at the same time', async () => {
    const replicas = ['audit-replica-a', 'audit-replica-b'].map((replica) =>
      spawn(
        process.execPath,
        ['--conditions=@flotilla/source', '--import', 'tsx', REPLICA, database.url, replica, '150'],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
          // tsx would otherwise keep a compile cache in the temporary folder the tests must leave empty.
          env: { ...process.env, TSX_DISABLE_CACHE: '1' },
        },
      ),
    );
    const said = (child: ChildProcess, word: string) =>
      new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.split('\n').includes(word)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`replica exited with ${String(code)} before "${word}": ${out}`)));
      });
    await Promise.all(replicas.map((child) => said(child, 'ready')));
    const done = replicas.map((child) => said(child, 'done'));
    for (const child of replicas) child.stdin.write('go\n');
    await Promise.all(done);
    const entries = stored();
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(new Set(entries.map((e) => e.actor.id))).toEqual(new Set(['audit-replica-a', 'audit-replica-b']));
    expect(one.verify()).toMatchObject({ ok: true, entries: 300 });
  }, 30_000);
});
