import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { messageOf } from '@flotilla/protocol';
import type { ExportedReports } from './export-reports.ts';
import type { OfflineSite } from './offline-site.ts';

export interface ReportsOutboxOptions {
  /** The directory reports files are written into: a volume a data diode's sender takes files from. */
  readonly dir: string;
  readonly site: Pick<OfflineSite, 'exportReportsInto'>;
  readonly log: Logger;
  /** How often the journal is looked at; default 5 minutes. */
  readonly intervalMs?: number;
}

/** What a write killed part-way leaves: `writeFileDurably`'s temporary file, hidden by its dot. */
const PARTIAL = /^\.reports-.*\.partial$/;

/**
 * Writes the running agent's reports files into an outbox directory, so that an agent no one
 * can run a command beside (a Kubernetes pod, its identity in a Secret) still sends its reports
 * across the gap: every interval, when the journal holds a report no file written by this
 * process ends with, a new file with every report the journal holds (a receipt imported
 * through the inbox prunes them, and the next file links on from there). Each file is whole
 * the moment it has its name (written under a hidden name, then renamed); the outbox is only
 * written, never read, so its files may be taken away at any time.
 */
export class ReportsOutbox {
  private readonly options: ReportsOutboxOptions;
  /** The last report of the last file written: a journal that has not moved on writes nothing. */
  private lastSeq: number | undefined;

  constructor(options: ReportsOutboxOptions) {
    this.options = options;
  }

  /** Writes a file every interval until `signal` aborts, the first right away. */
  async run(signal: AbortSignal): Promise<void> {
    await this.removePartial();
    while (!signal.aborted) {
      await this.write().catch((error: unknown) =>
        this.options.log.warn({ err: messageOf(error), outbox: this.options.dir }, 'outbox: reports file not written'),
      );
      await sleep(this.options.intervalMs ?? 300_000, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Writes a reports file when the journal moved on since the last; returns it, or undefined. */
  async write(): Promise<ExportedReports | undefined> {
    const exported = await this.options.site.exportReportsInto(this.options.dir, this.lastSeq);
    if (exported === undefined) return undefined;
    this.lastSeq = exported.seal.head.seq;
    this.options.log.info(
      { file: exported.path, reports: exported.seal.count, head: exported.seal.head.seq, digest: exported.digest },
      'outbox: reports file written',
    );
    return exported;
  }

  private async removePartial(): Promise<void> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => PARTIAL.test(n))) await rm(join(this.options.dir, name), { force: true });
  }
}
