import { hash } from 'node:crypto';
import { z } from 'zod';
import { canonicalize } from '../canonical-json.ts';
import { keyIdOf, Signature, signPayload, type KeyPair } from '../crypto/keys.ts';
import { API_VERSION, ApiVersion, Digest, TargetId, Timestamp } from '../documents/common.ts';
import { SignedReport } from '../documents/report.ts';
import { ChainPoint, linkReport } from '../report-chain.ts';

/** A report line is one signed report; reports are bounded, so a line is too. */
export const REPORTS_FILE_MAX_LINE_BYTES = 32 * 1024 * 1024;

/** Line 1: whose reports these are, and the chain point the first report links to. */
export const ReportsFileHeader = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('ReportsFileHeader'),
  targetId: TargetId,
  /** The id of the agent key that signed the seal (each report names the key that signed it). */
  keyId: z.string().min(1).max(64),
  /** The chain point before the first report: the genesis, or the last report the agent no longer holds. */
  base: ChainPoint,
  createdAt: Timestamp,
  /**
   * The newest trust-root version the site holds: what it acknowledged, so that the hub's next
   * transfer file carries only the versions after it. Absent when the agent holds none.
   */
  trustRootVersion: z.number().int().min(1).optional(),
});
export type ReportsFileHeader = z.infer<typeof ReportsFileHeader>;

/** One line per report, in chain order. */
export const ReportLink = z.strictObject({
  kind: z.literal('ReportLink'),
  prev: Digest,
  link: Digest,
  signed: SignedReport,
});
export type ReportLink = z.infer<typeof ReportLink>;

/** What the seal signs: the seal without its signature. */
export const ReportsFileSealBody = z.strictObject({
  kind: z.literal('ReportsFileSeal'),
  targetId: TargetId,
  /** sha256 of the header line's bytes (without its line end). */
  header: Digest,
  count: z.number().int().min(0),
  /** The last report's chain point (the base when the file holds none). */
  head: ChainPoint,
});
export type ReportsFileSealBody = z.infer<typeof ReportsFileSealBody>;

/** The last line: the seal body and the agent key's signature over it (purpose `reports-file`). */
export const ReportsFileSeal = z.strictObject({
  ...ReportsFileSealBody.shape,
  signature: Signature,
});
export type ReportsFileSeal = z.infer<typeof ReportsFileSeal>;

/**
 * Writes a reports file line by line: `header()` first, `link()` for each report in seq
 * order, `seal()` last. Every line is RFC 8785 canonical JSON and ends with `\n`, so the same
 * reports and base give the same file.
 */
export class ReportsFileWriter {
  private readonly key: KeyPair;
  private readonly targetId: string;
  private readonly headerLine: string;
  private head: ChainPoint;
  private count = 0;

  constructor(options: {
    readonly key: KeyPair;
    readonly targetId: string;
    readonly base: ChainPoint;
    readonly createdAt: string;
    readonly trustRootVersion?: number | undefined;
  }) {
    const header: ReportsFileHeader = ReportsFileHeader.parse({
      apiVersion: API_VERSION,
      kind: 'ReportsFileHeader',
      targetId: options.targetId,
      keyId: keyIdOf(options.key.publicKey),
      base: options.base,
      createdAt: options.createdAt,
      ...(options.trustRootVersion === undefined ? {} : { trustRootVersion: options.trustRootVersion }),
    });
    this.key = options.key;
    this.targetId = options.targetId;
    this.head = options.base;
    this.headerLine = canonicalize(header);
  }

  /** Line 1. */
  header(): string {
    return `${this.headerLine}\n`;
  }

  /** The line for the next report; its seq must be above the previous one's. */
  link(signed: SignedReport): string {
    if (signed.report.targetId !== this.targetId)
      throw new TypeError(
        `ReportsFileWriter: report ${signed.report.seq} is about ${signed.report.targetId}, not ${this.targetId}`,
      );
    if (signed.report.seq <= this.head.seq)
      throw new TypeError(`ReportsFileWriter: report ${signed.report.seq} does not follow report ${this.head.seq}`);
    const line: ReportLink = {
      kind: 'ReportLink',
      prev: this.head.link,
      link: linkReport(this.head.link, signed),
      signed,
    };
    this.head = { seq: signed.report.seq, link: line.link };
    this.count++;
    return `${canonicalize(line)}\n`;
  }

  /** The signed last line, and the seal it holds. */
  seal(): { readonly line: string; readonly seal: ReportsFileSeal } {
    const body: ReportsFileSealBody = {
      kind: 'ReportsFileSeal',
      targetId: this.targetId,
      header: `sha256:${hash('sha256', this.headerLine, 'hex')}`,
      count: this.count,
      head: this.head,
    };
    const seal: ReportsFileSeal = { ...body, signature: signPayload('reports-file', body, this.key) };
    return { line: `${canonicalize(seal)}\n`, seal };
  }
}
