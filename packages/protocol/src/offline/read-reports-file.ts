import { createHash, hash } from 'node:crypto';
import type { z } from 'zod';
import { canonicalize } from '../canonical-json.ts';
import { digestOf } from '../crypto/digest.ts';
import { verifyPayload, type TrustedKey } from '../crypto/keys.ts';
import type { SignedReport } from '../documents/report.ts';
import { FlotillaError, type ErrorCode } from '../errors.ts';
import { readLines, type Line } from './lib/lines.ts';
import { linkReport, type ChainPoint } from '../report-chain.ts';
import { ReportLink, REPORTS_FILE_MAX_LINE_BYTES, ReportsFileHeader, ReportsFileSeal } from './reports-file.ts';
import { parseJson } from '../bounded-json.ts';

/**
 * How far past a retired key's bound a report's `observedAt` may be: the agent's clock may run
 * ahead of the hub's by as much as a rotation allows (5 minutes).
 */
export const KEY_RETIREMENT_SKEW_MS = 5 * 60_000;

/**
 * A key bound to a target: its current one, or one it rotated away from. A retired key vouches
 * only for reports from before the rotation: seqs up to `retired.seq` (the last report the hub
 * held when the key was rotated away; the agent rotates only with its journal sent) observed no
 * later than `retired.at` (the rotation's time, plus {@link KEY_RETIREMENT_SKEW_MS}).
 */
export interface AgentKey extends TrustedKey {
  readonly retired?: { readonly seq: number; readonly at: string } | undefined;
}

export interface ReadReportsFileOptions {
  /** The target the file must be about (the hub knows which target it imports for). */
  readonly targetId: string;
  /**
   * Every key bound to the target: each report must be signed by one of them (the one its
   * signature names), the seal by the one the header names; a retired key within its bound.
   */
  readonly agentKeys: readonly AgentKey[];
}

/** Refuses a report (or a seal, by its head) that a retired key signed past its bound. */
function assertWithinRetirement(
  key: AgentKey,
  seq: number,
  observedAt: string | undefined,
  details: Record<string, unknown>,
): void {
  const retired = key.retired;
  if (retired === undefined) return;
  const what = observedAt === undefined ? `the seal over reports up to ${seq}` : `report ${seq}`;
  if (seq > retired.seq)
    fail(
      'REPORTS_KEY_RETIRED',
      `${what} is signed by key ${key.id}, which the target rotated away from after report ${retired.seq}; a report after the rotation must be signed by the new key`,
      { ...details, keyId: key.id },
    );
  if (observedAt !== undefined && Date.parse(observedAt) > Date.parse(retired.at) + KEY_RETIREMENT_SKEW_MS)
    fail(
      'REPORTS_KEY_RETIRED',
      `${what} is signed by key ${key.id} but observed at ${observedAt}, after the target rotated away from that key at ${retired.at}`,
      { ...details, keyId: key.id },
    );
}

/** What {@link readReportsFile} yields, in file order; the seal comes last, after every check. */
export type ReportsFileItem =
  | { readonly type: 'header'; readonly header: ReportsFileHeader }
  | {
      readonly type: 'report';
      readonly signed: SignedReport;
      readonly prev: string;
      readonly link: string;
      readonly line: number;
    }
  | { readonly type: 'seal'; readonly seal: ReportsFileSeal };

function fail(code: ErrorCode, message: string, details: Record<string, unknown>): never {
  throw new FlotillaError(code, message, details);
}

/** A line's JSON value; it must be in canonical form, so that every verifier reads one document. */
function jsonOf(line: Line): unknown {
  let value: unknown;
  try {
    value = parseJson(line.text, `line ${line.number}`);
  } catch {
    fail('REPORTS_FILE_INVALID', `line ${line.number} is not JSON`, { line: line.number });
  }
  if (canonicalize(value) !== line.text)
    fail('REPORTS_FILE_INVALID', `line ${line.number} is not in canonical JSON form (RFC 8785)`, { line: line.number });
  return value;
}

function shaped<S extends z.ZodType>(line: Line, value: unknown, schema: S, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(
      'REPORTS_FILE_INVALID',
      `line ${line.number} is not a ${what}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      { line: line.number },
    );
  }
  return parsed.data;
}

function kindOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined;
}

/**
 * Reads a reports file strictly, as a stream. The header must name `targetId` and one of
 * `agentKeys`; each report must be about that target, follow the previous one's seq (a seq
 * repeated is a replay, one going back a reorder: REPORTS_ORDER), link to the previous link
 * and hash to its own (REPORTS_CHAIN_BROKEN), and carry a valid signature by the key of the
 * target it names (REPORTS_KEY_UNKNOWN, REPORTS_SIGNATURE_INVALID), a retired key only for
 * reports from before the rotation (REPORTS_KEY_RETIRED: a file that spans a rotation holds
 * reports signed by both keys); the seal must cover the header, the count and the head, be
 * signed by the header's key (a retired one only over a head within its bound), and be the
 * last line. The file is verified only once the seal has
 * been yielded: a hub ingests nothing before that.
 */
export async function* readReportsFile(
  source: AsyncIterable<Uint8Array>,
  options: ReadReportsFileOptions,
): AsyncGenerator<ReportsFileItem> {
  const lines = readLines(source, REPORTS_FILE_MAX_LINE_BYTES, 'REPORTS_FILE_INVALID');
  const first = await lines.next();
  if (first.done === true) fail('REPORTS_FILE_INVALID', 'the reports file is empty', { line: 1 });
  const header = shaped(first.value, jsonOf(first.value), ReportsFileHeader, 'reports file header');
  if (header.targetId !== options.targetId)
    fail('REPORTS_TARGET_MISMATCH', `the reports file is about target ${header.targetId}, not ${options.targetId}`, {
      line: 1,
      targetId: header.targetId,
    });
  const key = options.agentKeys.find((k) => k.id === header.keyId);
  if (key === undefined)
    fail(
      'REPORTS_KEY_UNKNOWN',
      `the reports file is sealed by key ${header.keyId}, which was never a key of target ${options.targetId}`,
      { line: 1, keyId: header.keyId },
    );
  const headerDigest = `sha256:${hash('sha256', first.value.text, 'hex')}`;
  yield { type: 'header', header };

  let head: ChainPoint = header.base;
  let count = 0;
  for await (const line of lines) {
    const value = jsonOf(line);
    const kind = kindOf(value);
    if (kind === 'ReportsFileSeal') {
      const seal = shaped(line, value, ReportsFileSeal, 'reports file seal');
      const { signature, ...body } = seal;
      if (body.targetId !== header.targetId)
        fail('REPORTS_TARGET_MISMATCH', `the seal is about target ${body.targetId}, not ${header.targetId}`, {
          line: line.number,
        });
      if (body.header !== headerDigest)
        fail('REPORTS_CHAIN_BROKEN', 'the seal does not cover this header: the header was changed after sealing', {
          line: line.number,
        });
      if (body.count !== count || body.head.seq !== head.seq || body.head.link !== head.link) {
        fail(
          'REPORTS_CHAIN_BROKEN',
          `the seal covers ${body.count} reports up to ${body.head.seq}, but the file holds ${count} up to ${head.seq}: reports were added or removed after sealing`,
          { line: line.number, seq: head.seq },
        );
      }
      assertWithinRetirement(key, body.head.seq, undefined, { line: line.number, seq: body.head.seq });
      if (signature.keyId !== header.keyId || !verifyPayload('reports-file', body, signature, key.publicKey)) {
        fail(
          'REPORTS_SIGNATURE_INVALID',
          `the seal is not signed by the agent key ${header.keyId} of target ${header.targetId}`,
          { line: line.number },
        );
      }
      if ((await lines.next()).done !== true)
        fail('REPORTS_FILE_INVALID', `line ${line.number + 1} follows the seal; the seal is the last line`, {
          line: line.number + 1,
        });
      yield { type: 'seal', seal };
      return;
    }
    if (kind !== 'ReportLink')
      fail('REPORTS_FILE_INVALID', `line ${line.number} is neither a report nor the seal`, { line: line.number });
    const entry = shaped(line, value, ReportLink, 'report line');
    const { report, signature } = entry.signed;
    if (report.targetId !== header.targetId)
      fail(
        'REPORTS_TARGET_MISMATCH',
        `report ${report.seq} on line ${line.number} is about target ${report.targetId}, not ${header.targetId}`,
        { line: line.number, seq: report.seq },
      );
    if (report.seq <= head.seq) {
      const why =
        report.seq === head.seq
          ? 'repeats the report before it (a replay)'
          : `comes after report ${head.seq} (out of order)`;
      fail(
        'REPORTS_ORDER',
        `report ${report.seq} on line ${line.number} ${why}; reports are in increasing seq order, each once`,
        { line: line.number, seq: report.seq },
      );
    }
    if (entry.prev !== head.link)
      fail(
        'REPORTS_CHAIN_BROKEN',
        `report ${report.seq} on line ${line.number} does not link to the report before it: reports were removed, reordered or spliced in`,
        { line: line.number, seq: report.seq },
      );
    if (entry.link !== linkReport(entry.prev, entry.signed))
      fail(
        'REPORTS_CHAIN_BROKEN',
        `report ${report.seq} on line ${line.number} does not hash to its link: it was edited`,
        { line: line.number, seq: report.seq },
      );
    const signer = options.agentKeys.find((k) => k.id === signature.keyId);
    if (signer === undefined)
      fail(
        'REPORTS_KEY_UNKNOWN',
        `report ${report.seq} on line ${line.number} is signed by key ${signature.keyId}, which was never a key of target ${header.targetId}`,
        { line: line.number, seq: report.seq, keyId: signature.keyId },
      );
    assertWithinRetirement(signer, report.seq, report.observedAt, { line: line.number, seq: report.seq });
    if (!verifyPayload('report', report, signature, signer.publicKey)) {
      fail(
        'REPORTS_SIGNATURE_INVALID',
        `report ${report.seq} on line ${line.number} is not signed by the agent key ${signer.id} of target ${header.targetId} its signature names`,
        { line: line.number, seq: report.seq },
      );
    }
    head = { seq: report.seq, link: entry.link };
    count++;
    yield { type: 'report', signed: entry.signed, prev: entry.prev, link: entry.link, line: line.number };
  }
  fail('REPORTS_FILE_INVALID', `the reports file ends after ${count} reports without its seal: it was cut short`, {
    seq: head.seq,
  });
}

/** One verified report of a file, as the hub's ingest plan needs it. */
export interface ReportsFileEntry {
  readonly seq: number;
  readonly link: string;
  /** digestOf(the signed report): what the hub compares with the report it holds for the seq. */
  readonly report: string;
}

/** A verified reports file, without the reports themselves. */
export interface ReportsFileSummary {
  readonly targetId: string;
  /** sha256 of the file's bytes. */
  readonly fileDigest: string;
  readonly base: ChainPoint;
  readonly head: ChainPoint;
  readonly entries: readonly ReportsFileEntry[];
  /** The trust-root version the site holds, as its header says. */
  readonly trustRootVersion: number | undefined;
}

/** Reads and verifies a whole reports file (see {@link readReportsFile}) and sums it up. */
export async function summarizeReportsFile(
  source: AsyncIterable<Uint8Array>,
  options: ReadReportsFileOptions,
): Promise<ReportsFileSummary> {
  const fileHash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      fileHash.update(chunk);
      yield chunk;
    }
  }
  let base: ChainPoint | undefined;
  let head: ChainPoint | undefined;
  let trustRootVersion: number | undefined;
  const entries: ReportsFileEntry[] = [];
  for await (const item of readReportsFile(hashed(), options)) {
    if (item.type === 'header') ({ base, trustRootVersion } = item.header);
    else if (item.type === 'report')
      entries.push({ seq: item.signed.report.seq, link: item.link, report: digestOf(item.signed) });
    else head = item.seal.head;
  }
  return {
    targetId: options.targetId,
    fileDigest: `sha256:${fileHash.digest('hex')}`,
    base: base!,
    head: head!,
    entries,
    trustRootVersion,
  };
}
