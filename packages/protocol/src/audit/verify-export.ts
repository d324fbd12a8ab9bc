import { digestOf } from '../crypto/digest.ts';
import type { TrustedKey } from '../crypto/keys.ts';
import { AuditChainVerifier } from './chain-verifier.ts';
import type { SignedAuditCheckpoint } from './checkpoint.ts';
import {
  AuditCheckpointLine,
  AuditElidedLine,
  AuditEntryLine,
  AuditExportHeader,
  AuditSealLine,
} from './export-format.ts';
import { isPlainEntryLine } from './lib/entry-line-fast.ts';
import type { AuditVerifyResult } from './problems.ts';
import { parseJson } from '../bounded-json.ts';

export interface VerifyAuditExportOptions {
  /**
   * The hub keys to trust, e.g. `keysWithRole(trustRoot, 'hub')`. Without them the keys the
   * export carries are used: that proves the file is consistent, not that the hub made it,
   * and the result says `trusted: false`.
   */
  readonly trustedKeys?: readonly TrustedKey[];
  /** Checkpoints kept from earlier (a previous export, a published head) to hold this export against. */
  readonly checkpoints?: readonly SignedAuditCheckpoint[];
  /** How many problems to list; more are only counted. Default 1000. */
  readonly maxProblems?: number;
}

/**
 * Verifies an audit export offline: the text of a JSONL file, or its lines one by one (with or
 * without their newline). Checks the chain through every entry, carried in full or elided,
 * each checkpoint's signature and hash, and the seal: that it signs the chain at the header's
 * `toSeq`, the header itself and exactly the entries carried in full. Reports each problem
 * with its seq and 1-based line; never throws on bad input.
 *
 * @example
 * const result = verifyAuditExport(readFileSync('audit.jsonl', 'utf8'), { trustedKeys: keysWithRole(trustRoot, 'hub') });
 * if (!result.ok) for (const p of result.problems) console.log(`${p.line}: ${p.kind} ${p.message}`);
 */
export function verifyAuditExport(
  input: string | Iterable<string>,
  options: VerifyAuditExportOptions = {},
): AuditVerifyResult {
  const lines = typeof input === 'string' ? input.split('\n') : input;
  let verifier: AuditChainVerifier | undefined;
  let header: AuditExportHeader | undefined;
  let seal: { line: AuditSealLine; number: number; valid: boolean } | undefined;
  let number = 0;
  let lastFilled = 0;
  let started = false;

  const create = (keys: readonly TrustedKey[] | undefined): AuditChainVerifier =>
    new AuditChainVerifier({
      keys: options.trustedKeys ?? keys ?? [],
      trusted: options.trustedKeys !== undefined,
      ...(options.maxProblems === undefined ? {} : { maxProblems: options.maxProblems }),
    });
  // With a header, a kept checkpoint is compared only where the export covers its seq: the
  // export does not speak of entries outside its range (an older base, a newer head).
  const addKept = (into: AuditChainVerifier, range?: AuditExportHeader): void => {
    for (const kept of options.checkpoints ?? []) {
      if (range === undefined || inRange(kept.checkpoint.seq, range))
        into.addCheckpoint(kept, null, 'a kept checkpoint');
    }
  };

  for (const raw of lines) {
    number++;
    const text = raw.endsWith('\n')
      ? raw.slice(0, raw.endsWith('\r\n') ? -2 : -1)
      : raw.endsWith('\r')
        ? raw.slice(0, -1)
        : raw;
    if (text.trim() === '') continue;
    lastFilled = number;
    let value: unknown;
    try {
      value = parseJson(text, `line ${number}`);
    } catch {
      const first = !started;
      if (first) {
        started = true;
        verifier = create(undefined);
        addKept(verifier);
      }
      verifier!.report(
        'malformed',
        null,
        number,
        first ? 'the first line is not JSON; an export starts with its header line' : 'the line is not JSON',
      );
      continue;
    }
    const kind = (value as { kind?: unknown } | null)?.kind;

    if (!started) {
      started = true;
      if (kind === 'header') {
        const parsed = AuditExportHeader.safeParse(value);
        if (parsed.success) {
          header = parsed.data;
          verifier = create(header.keys);
          addKept(verifier, header);
          verifier.setBase(header.base.seq, header.base.hash, number);
          verifier.claimCoverage(header.toSeq, number, 'the header');
        } else {
          verifier = create(undefined);
          addKept(verifier);
          verifier.report('malformed', null, number, `the header does not match its schema: ${issue(parsed.error)}`);
        }
        continue;
      }
      verifier = create(undefined);
      addKept(verifier);
      verifier.report('malformed', null, number, 'an export starts with its header line');
    }
    const v = verifier!;
    if (seal !== undefined) {
      v.report('malformed', null, number, `nothing may follow the seal on line ${seal.number}`);
      continue;
    }
    switch (kind) {
      case 'entry': {
        if (isPlainEntryLine(value)) {
          // Hashing picks the body's members by name, so the line's `kind` needs no stripping.
          v.addEntry(value, number);
          break;
        }
        const parsed = AuditEntryLine.safeParse(value);
        if (!parsed.success) {
          v.report('malformed', seqOf(value), number, `the entry does not match its schema: ${issue(parsed.error)}`);
          break;
        }
        const { kind: _kind, ...entry } = parsed.data;
        v.addEntry(entry, number);
        break;
      }
      case 'elided': {
        const parsed = AuditElidedLine.safeParse(value);
        if (parsed.success) v.addElided(parsed.data.seq, parsed.data.bodyHashes, number);
        else
          v.report(
            'malformed',
            seqOf(value),
            number,
            `the elided run does not match its schema: ${issue(parsed.error)}`,
          );
        break;
      }
      case 'checkpoint': {
        const parsed = AuditCheckpointLine.safeParse(value);
        if (!parsed.success)
          v.report('malformed', null, number, `the checkpoint does not match its schema: ${issue(parsed.error)}`);
        else if (header !== undefined && !inRange(parsed.data.checkpoint.seq, header)) {
          v.report(
            'malformed',
            parsed.data.checkpoint.seq,
            number,
            `the checkpoint at seq ${parsed.data.checkpoint.seq} is outside the export's range, seq ${header.base.seq} to ${header.toSeq}: an export carries checkpoints only for the entries it covers and its base`,
          );
        } else v.addCheckpoint({ checkpoint: parsed.data.checkpoint, signature: parsed.data.signature }, number);
        break;
      }
      case 'seal': {
        const parsed = AuditSealLine.safeParse(value);
        if (!parsed.success) {
          v.report('malformed', null, number, `the seal does not match its schema: ${issue(parsed.error)}`);
          break;
        }
        const valid = v.addCheckpoint(
          { checkpoint: parsed.data.checkpoint, signature: parsed.data.signature },
          number,
          'the seal',
        );
        seal = { line: parsed.data, number, valid };
        break;
      }
      case 'header':
        v.report('malformed', null, number, 'an export has one header, on its first line');
        break;
      default:
        v.report(
          'malformed',
          null,
          number,
          `unknown line kind ${JSON.stringify(kind) ?? 'undefined'}; expected header, checkpoint, entry, elided or seal`,
        );
    }
  }

  const v = verifier ?? create(undefined);
  // What is absent at the end (the seal, a cut tail) is reported where it belongs: at the
  // seal, or on the line after the last non-blank one.
  const end = lastFilled + 1;
  if (seal === undefined) {
    v.report(
      'unsealed',
      header?.toSeq ?? null,
      end,
      'the export has no seal line: it was cut short or assembled by hand',
    );
  } else if (seal.valid) {
    checkSeal(v, seal.line, seal.number, header);
  }
  return v.finish(seal?.number ?? end);
}

/** Whether a checkpoint's seq is one the export speaks of: its base or an entry it covers. */
function inRange(seq: number, header: AuditExportHeader): boolean {
  return seq >= header.base.seq && seq <= header.toSeq;
}

function checkSeal(
  v: AuditChainVerifier,
  seal: AuditSealLine,
  line: number,
  header: AuditExportHeader | undefined,
): void {
  const { seq, export: claim } = seal.checkpoint;
  if (header === undefined) {
    v.report('seal-mismatch', seq, line, 'the seal signs a header this export lacks');
    return;
  }
  let authentic = true;
  if (claim.header !== digestOf(header)) {
    authentic = false;
    v.report(
      'seal-mismatch',
      seq,
      line,
      'the header differs from the one the hub sealed: its range, filter or keys were edited',
    );
  }
  if (seq !== header.toSeq) {
    authentic = false;
    v.report(
      'seal-mismatch',
      seq,
      line,
      `the seal is at seq ${seq}, but the header says the export ends at seq ${header.toSeq}`,
    );
  }
  const lastSeq = v.lastSeq ?? header.base.seq;
  if (lastSeq > seq) {
    v.report(
      'seal-mismatch',
      seq + 1,
      line,
      `the export carries entries up to seq ${lastSeq}, beyond the seq ${seq} the hub sealed`,
    );
  }
  // Held whatever else went wrong: a missing, reordered, duplicated or cut entry carried in
  // full changes the digest, as an entry changed, elided or added after sealing does.
  if (claim.count !== v.included.count || claim.included !== v.included.digest()) {
    v.report(
      'seal-mismatch',
      seq,
      line,
      `the entries carried in full, in line order, are not the ones the hub sealed (${claim.count} sealed, ${v.included.count} here): one is missing, out of order, duplicated, or was changed, elided or added after sealing`,
    );
  }
  // The sealed header names the base, so the export's start needs no other anchor.
  if (authentic) v.vouchBase();
}

function issue(error: { issues: readonly { message: string; path: readonly PropertyKey[] }[] }): string {
  const first = error.issues[0];
  return first === undefined ? 'invalid' : `${first.path.map(String).join('.') || '(root)'}: ${first.message}`;
}

function seqOf(value: unknown): number | null {
  const seq = (value as { seq?: unknown } | null)?.seq;
  return typeof seq === 'number' ? seq : null;
}
