import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FlotillaError, keysWithRole, type Facts, type SignedReport } from '@flotilla/protocol';
import type { ChainPoint, OfflineReceipt } from '@flotilla/protocol/offline';
import type { AgentStore, Enrollment } from '../agent-state.ts';
import type { Driver } from '../drivers/driver.ts';
import type { DriftEngine } from '../drift/drift-engine.ts';
import { ReportJournal } from '../journal/report-journal.ts';
import { decidePass } from '../sync/decide-pass.ts';
import { DesiredStateVerifier } from '../sync/desired-state.ts';
import { PassLock } from '../sync/pass-lock.ts';
import { runPass, type PassDependencies, type PassOutcome } from '../sync/run-pass.ts';
import { exportReportsFile, type ExportedReports } from './export-reports.ts';
import { importReceiptFile } from './import-receipt.ts';
import { importedImages, importTransferFile, removeStaleStaging, verifyImportedTransfer } from './import-transfer.ts';
import { pushOciImages, type PushedImage } from './push-images.ts';
import { RegistryClient } from './registry-client.ts';
import { loadRegistryCredentials } from './registry-credentials.ts';

export interface OfflineSiteOptions {
  readonly store: AgentStore;
  readonly enrollment: Enrollment;
  readonly driver: Driver;
  readonly drift: DriftEngine;
  /** Facts added to the driver's in every report. */
  readonly facts?: Readonly<Record<string, string>>;
  /** The site registry images are pushed into; a file that carries images needs one. */
  readonly registry?: SiteRegistry | undefined;
  /** Shared with the pull loop when the agent runs, so passes take turns. */
  readonly lock?: PassLock;
  readonly log: Logger;
  readonly clock: () => number;
}

/** The site registry, and where its credentials are: a Docker config.json or a Kubernetes Secret manifest. */
export interface SiteRegistry {
  readonly url: string;
  readonly credentialsFile?: string | undefined;
}

/** What importing a transfer file did. */
export interface TransferImport {
  readonly generation: number;
  readonly outcome: PassOutcome['kind'];
  readonly images: readonly PushedImage[];
  readonly trustRootVersion: number;
}

/** No access token for a site the hub cannot reach: every bundle comes from the file. */
const NO_TOKEN = (): Promise<string> =>
  Promise.reject(new FlotillaError('BUNDLE_MISSING', 'a release is neither cached nor in the transfer file'));

/**
 * Removes what an import killed part-way left: staging directories, and imported directories
 * whose pass never finished (the next import of that file starts over). Imports take turns on
 * a site (the inbox handles one file at a time), so nothing here is in use.
 */
async function removeStaleImports(dir: string): Promise<void> {
  await removeStaleStaging(dir);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => /^\d+-[0-9a-f]{8}$/.test(n)))
    await rm(join(dir, name), { recursive: true, force: true });
}

/** A hub client for a site the hub cannot reach: everything must come in the file. */
const NO_HUB = {
  trustRoot(version: number): never {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root v${version} is needed but neither held nor in the transfer file; export the file with an older --trust-root-since`,
    );
  },
  bundle(digest: string): never {
    throw new FlotillaError('BUNDLE_MISSING', `release ${digest} is neither cached nor in the transfer file`);
  },
  driftPolicy(digest: string): never {
    throw new FlotillaError(
      'DRIFT_POLICY_UNKNOWN',
      `drift policy ${digest} is neither saved nor in the transfer file, whose envelopes carry it inline; export the file again from the hub`,
    );
  },
};

/**
 * The air-gap exchange on a site (docs/air-gap.md). A transfer file is checked whole before
 * anything of it is used (manifest signature, every entry, then the same checks an online
 * envelope gets, against the trust root and generation the agent holds); its images go into
 * the site registry; then its envelope runs through the very sync pass an online envelope
 * runs through. Reports leave as a chained, signed file, and a hub receipt prunes them.
 */
export class OfflineSite {
  private readonly options: OfflineSiteOptions;
  private readonly lock: PassLock;
  private journalCache: ReportJournal | undefined;

  constructor(options: OfflineSiteOptions) {
    this.options = options;
    this.lock = options.lock ?? new PassLock();
  }

  /** Imports, verifies and applies a transfer file; a refused file leaves the site as it was. */
  async importTransfer(file: string): Promise<TransferImport> {
    const { store, enrollment, log, clock } = this.options;
    const pinned = await store.trustRoot();
    if (pinned === undefined)
      throw new FlotillaError('TRUST_ROOT_INVALID', 'this agent has no trust root; enroll it first');
    const importsDir = join(store.dir, 'imports');
    await removeStaleImports(importsDir);
    const imported = await importTransferFile(file, {
      hubKeys: keysWithRole(pinned.trustRoot, 'hub').map((k) => ({ id: k.id, publicKey: k.publicKey })),
      destination: join(importsDir, `${clock()}-${randomBytes(4).toString('hex')}`),
    });
    try {
      return await this.lock.run(async () => {
        const sync = await store.sync();
        const verified = await verifyImportedTransfer(imported, {
          trustRoot: pinned.trustRoot,
          targetId: enrollment.targetId,
          lastGeneration: sync.appliedGeneration,
          now: new Date(clock()),
        });
        const generation = verified.verifiedEnvelope.generation;
        const phase = sync.appliedGeneration > 0 ? 'applied' : 'starting';
        // Images are needed only by manifests about to be applied: a file whose releases are
        // in place already (imported again) pushes nothing.
        const applies = decidePass(sync.appliedEnvelope?.envelope, verified.verifiedEnvelope, phase) === 'apply';
        const layout = applies ? await importedImages(imported) : undefined;
        if (layout !== undefined && this.options.registry === undefined)
          throw new FlotillaError(
            'CONFIG_INVALID',
            `the transfer file carries ${layout.index.manifests.length} image(s) but no site registry is set; give --registry URL`,
          );
        for (const root of verified.newTrustRoots) await store.saveTrustRoot(root);
        const verifier = new DesiredStateVerifier(NO_HUB, store, enrollment.targetId);
        for (const bundle of verified.bundles.values()) verifier.seed(bundle);
        let images: PushedImage[] = [];
        if (layout !== undefined) {
          const { url, credentialsFile } = this.options.registry!;
          const credentials =
            credentialsFile === undefined
              ? undefined
              : await loadRegistryCredentials(credentialsFile, new URL(url).host);
          const client = new RegistryClient({ url, credentials });
          try {
            images = await pushOciImages(layout, client);
          } finally {
            await client.close();
          }
          log.info({ images: images.map((i) => `${i.repository}:${i.tag ?? i.digest}`) }, 'images pushed');
        }
        const outcome = await runPass(this.passDeps(verifier, await this.journal()), {
          raw: verified.envelope,
          token: NO_TOKEN,
          phase,
        });
        if (outcome.kind === 'stalled') throw outcome.error;
        if (outcome.kind === 'failed')
          throw new FlotillaError(
            'DRIVER_FAILED',
            `generation ${generation} from the transfer file failed to apply; import it again`,
          );
        log.info({ generation, outcome: outcome.kind }, 'transfer file applied');
        return { generation, outcome: outcome.kind, images, trustRootVersion: verified.trustRoot.version };
      });
    } finally {
      await rm(imported.directory, { recursive: true, force: true });
    }
  }

  /** Writes every report the journal holds as one signed, chained reports file. */
  async exportReports(out: string): Promise<ExportedReports> {
    const { base, reports } = (await this.journal()).snapshot();
    return this.writeReports(out, base, reports, 0o600);
  }

  /**
   * Writes every report the journal holds as a reports file into `dir`, named for the target
   * and the last report (`reports-<target>-<seq, 12 digits>.jsonl`), unless the journal holds
   * none, or the last one is `after` (a file up to it was written already). Readable by all:
   * the outbox is handed to another program (a data diode's sender).
   */
  async exportReportsInto(dir: string, after?: number): Promise<ExportedReports | undefined> {
    const { base, reports } = (await this.journal()).snapshot();
    const last = reports.at(-1)?.report.seq;
    if (last === undefined || last === after) return undefined;
    const name = `reports-${this.options.enrollment.targetId}-${String(last).padStart(12, '0')}.jsonl`;
    return this.writeReports(join(dir, name), base, reports, 0o644);
  }

  private async writeReports(
    out: string,
    base: ChainPoint,
    reports: readonly SignedReport[],
    mode: number,
  ): Promise<ExportedReports> {
    return exportReportsFile(out, reports, {
      key: await this.options.store.keyPair(),
      targetId: this.options.enrollment.targetId,
      base,
      createdAt: new Date(this.options.clock()).toISOString(),
      trustRootVersion: (await this.options.store.trustRoot())?.trustRoot.version,
      mode,
    });
  }

  /** Verifies a hub receipt against this agent's own chain and drops the reports it confirms. */
  async importReceipt(file: string): Promise<{ readonly receipt: OfflineReceipt; readonly pruned: number }> {
    const pinned = await this.options.store.trustRoot();
    if (pinned === undefined)
      throw new FlotillaError('TRUST_ROOT_INVALID', 'this agent has no trust root; enroll it first');
    const journal = await this.journal();
    const { receipt, settlement } = await importReceiptFile(
      file,
      { trustRoot: pinned.trustRoot, targetId: this.options.enrollment.targetId },
      (seq) => journal.linkAt(seq),
    );
    const settles = settlement.confirmed.length > 0 || settlement.forks.length > 0;
    return { receipt, pruned: settles ? await journal.prune(receipt.head.seq) : 0 };
  }

  private async journal(): Promise<ReportJournal> {
    const { store, enrollment } = this.options;
    const key = await store.keyPair();
    this.journalCache ??= new ReportJournal(store.dir, key, enrollment.targetId, store, { log: this.options.log });
    // The running agent may have rotated its key since: a report signed by the old one would be
    // refused online, and in a reports file past the rotation.
    this.journalCache.rekey(key);
    return this.journalCache;
  }

  private passDeps(verifier: DesiredStateVerifier, journal: ReportJournal): PassDependencies {
    const { store, driver, drift, log, clock } = this.options;
    return {
      store,
      verifier,
      driver,
      drift,
      journal,
      facts: async (): Promise<Facts> => ({ ...(await driver.facts()), ...this.options.facts }),
      clock,
      log,
    };
  }
}
