import { createHash } from 'node:crypto';
import { type KeyPair, type SignedReport } from '@flotilla/protocol';
import { ReportsFileWriter, type ChainPoint, type ReportsFileSeal } from '@flotilla/protocol/offline';
import { writeFileDurably } from '@flotilla/runtime';

export interface ExportReportsOptions {
  readonly key: KeyPair;
  readonly targetId: string;
  /** The chain point before the first report: the genesis, or the last report the agent dropped. */
  readonly base: ChainPoint;
  readonly createdAt: string;
  /** The newest trust-root version the site holds, acknowledged in the header. */
  readonly trustRootVersion?: number | undefined;
  /** The file's permissions; default 0600. */
  readonly mode?: number;
}

/** What an export wrote. */
export interface ExportedReports {
  readonly path: string;
  readonly seal: ReportsFileSeal;
  readonly bytes: number;
  /** sha256 of the file: the receipt names it. */
  readonly digest: string;
}

/**
 * Writes the agent's reports, in seq order, as one reports file (header, one chained line per
 * report, the signed seal) to `path`, atomically: the file is whole or absent.
 */
export async function exportReportsFile(
  path: string,
  reports: Iterable<SignedReport> | AsyncIterable<SignedReport>,
  options: ExportReportsOptions,
): Promise<ExportedReports> {
  const writer = new ReportsFileWriter(options);
  const encoder = new TextEncoder();
  const hash = createHash('sha256');
  let seal: ReportsFileSeal | undefined;
  async function* lines(): AsyncGenerator<Uint8Array> {
    const emit = (line: string) => {
      const bytes = encoder.encode(line);
      hash.update(bytes);
      return bytes;
    };
    yield emit(writer.header());
    for await (const signed of reports) yield emit(writer.link(signed));
    const sealed = writer.seal();
    seal = sealed.seal;
    yield emit(sealed.line);
  }
  const bytes = await writeFileDurably(path, lines(), options.mode ?? 0o600);
  return { path, seal: seal!, bytes, digest: `sha256:${hash.digest('hex')}` };
}
