import { createHash } from 'node:crypto';
import { generateKeyPair, keyIdOf, type KeyPair } from '../../src/crypto/keys.ts';
import { digestOf } from '../../src/crypto/digest.ts';
import {
  AUDIT_ELIDED_PER_LINE,
  AUDIT_GENESIS_HASH,
  AuditIncludedDigest,
  auditCheckpointSigner,
  hashAuditBody,
  hashAuditEntry,
  signAuditCheckpoint,
  type AuditCheckpointSigner,
  type AuditEntry,
  type AuditExportHeader,
  type SignedAuditCheckpoint,
} from '../../src/audit/index.ts';

/**
 * A reference writer for audit chains and exports, built from the format document rather
 * than from the hub, so the verifier is tested against an independent producer.
 */

export const TARGET_A = 'tgt_aaaaaaaaaaaaaaaaaaaa';
export const TARGET_B = 'tgt_bbbbbbbbbbbbbbbbbbbb';

export const hubKey: KeyPair = generateKeyPair();
export const hubSigner: AuditCheckpointSigner = auditCheckpointSigner(hubKey);
export const trustedKeys = [{ id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey }];

const T0 = Date.parse('2025-03-01T12:00:00.000Z');

/** A deterministic salt, so fixtures are reproducible. */
export function saltFor(seq: number): string {
  return createHash('sha256').update(`salt ${seq}`).digest().subarray(0, 16).toString('base64url');
}

export interface ChainOptions {
  /** Where the chain continues from; default the genesis. */
  readonly after?: { seq: number; hash: string };
  /** Which targets entry `seq` names; default alternately A and B. */
  readonly subjects?: (seq: number) => string[];
  readonly time?: (seq: number) => string;
}

/** `count` valid entries: odd seqs name target A ("customer a"), even seqs target B. */
export function makeChain(count: number, options: ChainOptions = {}): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prevHash = options.after?.hash ?? AUDIT_GENESIS_HASH;
  const first = (options.after?.seq ?? 0) + 1;
  for (let seq = first; seq < first + count; seq++) {
    const subjects = options.subjects?.(seq) ?? [seq % 2 === 1 ? TARGET_A : TARGET_B];
    const body = {
      seq,
      time: options.time?.(seq) ?? new Date(T0 + seq * 1000).toISOString(),
      actor: { kind: 'user' as const, id: 'alice@example.com' },
      action: 'target.label',
      subjects,
      outcome: 'success' as const,
      reason: null,
      details: {
        labels: { customer: subjects[0] === TARGET_A ? 'acme' : 'globex' },
        secret: `detail-of-${subjects[0] ?? 'none'}-${seq}`,
      },
      salt: saltFor(seq),
    };
    const hash = hashAuditEntry({ ...body, prevHash });
    entries.push({ ...body, prevHash, hash });
    prevHash = hash;
  }
  return entries;
}

export function checkpointAt(
  seq: number,
  hash: string,
  signer: AuditCheckpointSigner = hubSigner,
): SignedAuditCheckpoint {
  return signAuditCheckpoint(
    { apiVersion: 'flotilla.io/v1', kind: 'AuditCheckpoint', seq, hash, time: new Date(T0 + 10_000_000).toISOString() },
    signer,
  );
}

/** A checkpoint over entry `seq` of `entries`. */
export function checkpointOf(
  entries: readonly AuditEntry[],
  seq: number,
  signer?: AuditCheckpointSigner,
): SignedAuditCheckpoint {
  const entry = entries.find((e) => e.seq === seq);
  if (entry === undefined) throw new Error(`no entry ${seq} in the fixture`);
  return checkpointAt(seq, entry.hash, signer);
}

export interface ExportFixture {
  readonly entries: readonly AuditEntry[];
  readonly checkpoints?: readonly SignedAuditCheckpoint[];
  /** The position before the first entry; default genesis. */
  readonly base?: { seq: number; hash: string };
  /** Carry in full only entries naming one of these; null carries all. */
  readonly targets?: readonly string[] | null;
  readonly signer?: AuditCheckpointSigner;
}

/** The lines of an export, as docs/audit-format.md describes them (without newlines). */
export function writeExport(fixture: ExportFixture): string[] {
  const signer = fixture.signer ?? hubSigner;
  const base = fixture.base ?? { seq: 0, hash: AUDIT_GENESIS_HASH };
  const last = fixture.entries.at(-1);
  const toSeq = last?.seq ?? base.seq;
  const targets = fixture.targets ?? null;
  const header: AuditExportHeader = {
    kind: 'header',
    apiVersion: 'flotilla.io/v1',
    exportedAt: new Date(T0 + 20_000_000).toISOString(),
    filter: { since: null, until: null, targets: targets === null ? null : [...targets] },
    base,
    toSeq,
    keys: [{ id: signer.keyId, publicKey: signer.publicKey }],
  };
  const lines = [JSON.stringify(header)];
  for (const c of fixture.checkpoints ?? []) lines.push(JSON.stringify({ kind: 'checkpoint', ...c }));
  const included = new AuditIncludedDigest();
  let run: { seq: number; bodyHashes: string[] } | undefined;
  const flush = (): void => {
    if (run !== undefined) lines.push(JSON.stringify({ kind: 'elided', ...run }));
    run = undefined;
  };
  for (const entry of fixture.entries) {
    if (targets === null || entry.subjects.some((s) => targets.includes(s))) {
      flush();
      lines.push(JSON.stringify({ kind: 'entry', ...entry }));
      included.add(entry.hash);
    } else {
      if (run === undefined) run = { seq: entry.seq, bodyHashes: [] };
      run.bodyHashes.push(hashAuditBody(entry));
      if (run.bodyHashes.length === AUDIT_ELIDED_PER_LINE) flush();
    }
  }
  flush();
  const seal = signAuditCheckpoint(
    {
      apiVersion: 'flotilla.io/v1',
      kind: 'AuditCheckpoint',
      seq: toSeq,
      hash: last?.hash ?? base.hash,
      time: new Date(T0 + 20_000_000).toISOString(),
      export: { header: digestOf(header), included: included.digest(), count: included.count },
    },
    signer,
  );
  lines.push(JSON.stringify({ kind: 'seal', ...seal }));
  return lines;
}

/** The 1-based line on which entry `seq` is written in full. */
export function lineOfEntry(lines: readonly string[], seq: number): number {
  const index = lines.findIndex((line) => {
    const value = JSON.parse(line) as { kind: string; seq?: number };
    return value.kind === 'entry' && value.seq === seq;
  });
  if (index === -1) throw new Error(`entry ${seq} is not in the export`);
  return index + 1;
}

/** The 1-based line of the first line of `kind`. */
export function lineOfKind(lines: readonly string[], kind: string, nth = 0): number {
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if ((JSON.parse(lines[i]!) as { kind: string }).kind === kind && seen++ === nth) return i + 1;
  }
  throw new Error(`no ${kind} line number ${nth}`);
}

/** Rewrites the JSON of line `line` (1-based). */
export function editLine(
  lines: readonly string[],
  line: number,
  edit: (value: Record<string, unknown>) => void,
): string[] {
  const copy = [...lines];
  const value = JSON.parse(copy[line - 1]!) as Record<string, unknown>;
  edit(value);
  copy[line - 1] = JSON.stringify(value);
  return copy;
}
