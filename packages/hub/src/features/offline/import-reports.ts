import { createReadStream } from 'node:fs';
import { canonicalize, FlotillaError, type KeyPair, type SignedReport } from '@flotilla/protocol';
import {
  planReportsIngest,
  readReportsFile,
  type AgentKey,
  signReceipt,
  summarizeReportsFile,
  type ReportHistory,
  type ReportsFileSummary,
  type ReportsIngestPlan,
  type SignedOfflineReceipt,
} from '@flotilla/protocol/offline';
import { streamOf, writeFileDurably } from '@flotilla/runtime';

export interface ImportReportsOptions {
  /** The target the file is imported for; the file must be about it. */
  readonly targetId: string;
  /** The target's agent keys: its current one, and those it rotated away from, each with its bound. */
  readonly agentKeys: readonly AgentKey[];
  /** What the hub holds of the target's reports. */
  readonly history: ReportHistory;
  /**
   * Stores one report the plan accepts, with its link. Called in seq order, and only once the
   * whole file verified; a store wraps the calls in one transaction.
   */
  readonly accept: (signed: SignedReport, link: string) => void | Promise<void>;
  readonly hubKey: KeyPair;
  readonly now: () => Date;
}

/** The outcome of importing a reports file. */
export interface ImportedReports {
  readonly summary: ReportsFileSummary;
  readonly plan: ReportsIngestPlan;
  readonly receipt: SignedOfflineReceipt;
}

const stream = (path: string) => createReadStream(path, { highWaterMark: 1 << 20 });

/**
 * Imports an agent's reports file: reads and verifies it whole first (nothing is stored from a
 * file that fails anywhere, seal included), plans the ingest against what the hub holds, then
 * reads it again and hands `accept` the planned reports in seq order, each checked to be the
 * very report verified the first time. Returns the hub-signed receipt. Importing the same file
 * again accepts nothing and answers a receipt that lists every report as a duplicate.
 */
export async function importReportsFile(path: string, options: ImportReportsOptions): Promise<ImportedReports> {
  const read = { targetId: options.targetId, agentKeys: options.agentKeys };
  const summary = await summarizeReportsFile(stream(path), read);
  const plan = planReportsIngest(summary, options.history);
  const wanted = new Set(plan.accept);
  const links = new Map(summary.entries.map((e) => [e.seq, e.link]));
  for await (const item of readReportsFile(stream(path), read)) {
    if (item.type !== 'report' || !wanted.has(item.signed.report.seq)) continue;
    if (links.get(item.signed.report.seq) !== item.link) {
      throw new FlotillaError(
        'REPORTS_CHAIN_BROKEN',
        `the reports file ${path} changed while it was being imported (report ${item.signed.report.seq}); import it again`,
        { seq: item.signed.report.seq },
      );
    }
    await options.accept(item.signed, item.link);
  }
  return { summary, plan, receipt: signReceipt(summary, plan, options.now().toISOString(), options.hubKey) };
}

/** Writes a receipt file (canonical JSON of the signed receipt) for the operator to carry back. */
export async function writeReceiptFile(path: string, receipt: SignedOfflineReceipt): Promise<void> {
  await writeFileDurably(path, streamOf(`${canonicalize(receipt)}\n`), 0o644);
}
