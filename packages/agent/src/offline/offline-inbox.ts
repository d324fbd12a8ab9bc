import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isFlotillaError, messageOf } from '@flotilla/protocol';
import { readJsonFile, writeJsonAtomic } from '../state-files.ts';
import type { OfflineSite, TransferImport } from './offline-site.ts';

export interface OfflineInboxOptions {
  /** The directory to watch: a mounted USB medium, a data-diode drop. Only read, never written. */
  readonly dir: string;
  readonly site: Pick<OfflineSite, 'importTransfer' | 'importReceipt'>;
  /** Where the inbox remembers the files it handled, so a file is handled once. */
  readonly stateDir: string;
  readonly log: Logger;
  /** How often the directory is scanned; default 5 s. */
  readonly intervalMs?: number;
  /** Called after a transfer file was applied. */
  readonly onImported?: (result: TransferImport) => void;
}

/** Failures that say nothing about the file: the registry or the substrate was away. */
const RETRY = new Set(['REGISTRY_UNREACHABLE', 'DRIVER_FAILED', 'HUB_UNAVAILABLE']);

const Seen = z.record(z.string(), z.string());

/** A file as a scan saw it: a file still being copied changes between two scans. */
interface Sighting {
  readonly size: number;
  readonly mtimeMs: number;
}

/** A tar archive has `ustar` at offset 257 of its first header; a receipt is JSON. */
async function kindOf(path: string): Promise<'transfer' | 'receipt' | 'unknown'> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'transfer';
    return head.subarray(0, bytesRead).toString('utf8').trimStart().startsWith('{') ? 'receipt' : 'unknown';
  } finally {
    await handle.close();
  }
}

/**
 * Watches an inbox directory for transfer files and receipts and hands each to the offline
 * site once it stopped changing (two scans with the same size and time). Scanning, not file
 * events: removable media and network drops do not deliver events reliably. Each file is
 * handled once per content (name, size, time), remembered across restarts; a refused file is
 * logged with the code and the entry, and tried again only if it changes. The directory is
 * never written, so a read-only medium works.
 */
export class OfflineInbox {
  private readonly options: OfflineInboxOptions;
  private readonly sightings = new Map<string, Sighting>();
  private readonly seenPath: string;

  constructor(options: OfflineInboxOptions) {
    this.options = options;
    this.seenPath = join(options.stateDir, 'inbox-seen.json');
  }

  /** Scans until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.scan().catch((error: unknown) =>
        this.options.log.warn({ err: messageOf(error), inbox: this.options.dir }, 'inbox scan failed'),
      );
      await sleep(this.options.intervalMs ?? 5000, undefined, { signal }).catch(() => undefined);
    }
  }

  /** One scan: handles every file that is whole and new; returns how many it handled. */
  async scan(): Promise<number> {
    const { dir } = this.options;
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
    const seen = readJsonFile(this.seenPath, Seen) ?? {};
    let handled = 0;
    for (const name of names) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined || !info.isFile()) continue;
      const key = `${name}:${info.size}:${Math.trunc(info.mtimeMs)}`;
      if (seen[key] !== undefined) continue;
      const before = this.sightings.get(name);
      this.sightings.set(name, { size: info.size, mtimeMs: info.mtimeMs });
      if (before === undefined || before.size !== info.size || before.mtimeMs !== info.mtimeMs) continue;
      const outcome = await this.handle(path);
      if (outcome === undefined) continue;
      seen[key] = outcome;
      writeJsonAtomic(this.seenPath, seen);
      handled++;
    }
    return handled;
  }

  /** What became of the file, or undefined when it failed for a reason that may pass (try again next scan). */
  private async handle(path: string): Promise<string | undefined> {
    const { site, log } = this.options;
    try {
      const kind = await kindOf(path);
      if (kind === 'transfer') {
        const result = await site.importTransfer(path);
        log.info(
          { file: path, generation: result.generation, outcome: result.outcome },
          'inbox: transfer file imported',
        );
        this.options.onImported?.(result);
        return `imported generation ${result.generation}`;
      }
      if (kind === 'receipt') {
        const { receipt, pruned } = await site.importReceipt(path);
        log.info({ file: path, head: receipt.head.seq, pruned }, 'inbox: receipt imported');
        return `receipt up to seq ${receipt.head.seq}`;
      }
      log.warn({ file: path }, 'inbox: neither a transfer file nor a receipt; ignored');
      return 'ignored';
    } catch (error) {
      log.error(
        {
          file: path,
          code: isFlotillaError(error) ? error.code : undefined,
          entry: isFlotillaError(error) ? error.details?.['entry'] : undefined,
          err: messageOf(error),
        },
        'inbox: file refused',
      );
      if (!isFlotillaError(error) || RETRY.has(error.code)) return undefined;
      return `refused: ${error.code}`;
    }
  }
}
