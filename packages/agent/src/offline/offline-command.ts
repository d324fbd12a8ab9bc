import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { FlotillaError } from '@flotilla/protocol';
import { FileAgentStore } from '../agent-state.ts';
import { offlineConfig } from '../config.ts';
import { DriftEngine } from '../drift/drift-engine.ts';
import { ManifestsDirDriver } from '../drivers/manifests-dir.ts';
import { AGENT_VERSION } from '../version.ts';
import { OfflineSite } from './offline-site.ts';

/**
 * `flotilla-agent offline import | export-reports | import-receipt`, on the agent's state
 * directory. Run it while the agent is stopped, or drop the file into the running agent's
 * inbox instead: two processes must not apply to one state directory at once.
 */
export async function runOfflineCommand(
  action: 'import' | 'export-reports' | 'import-receipt',
  file: string,
  flags: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  out: (line: string) => void,
): Promise<void> {
  const config = offlineConfig(flags, env);
  // The command's answer goes to stdout; its log lines, if any, to stderr.
  const log = pino({ level: config.logLevel }, pino.destination({ fd: 2, sync: true }));
  const store = new FileAgentStore(config.stateDir);
  const enrollment = await store.enrollment();
  if (enrollment === undefined)
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${config.stateDir} holds no enrolled agent; enroll it (flotilla-agent run with an enrollment token) before it takes files`,
    );
  if (action !== 'export-reports' && !existsSync(file))
    throw new FlotillaError('NOT_FOUND', `${file} does not exist`, { file });
  if (action === 'import' && config.root === undefined)
    throw new FlotillaError('CONFIG_INVALID', 'importing a transfer file applies it: give --root DIR (manifests-dir)');
  const driver = new ManifestsDirDriver(config.root ?? config.stateDir, AGENT_VERSION);
  const site = new OfflineSite({
    store,
    enrollment,
    driver,
    drift: new DriftEngine({ driver, log, clock: Date.now, dir: store.dir }),
    registry:
      config.registry === undefined ? undefined : { url: config.registry, credentialsFile: config.registryCredentials },
    log,
    clock: Date.now,
  });
  try {
    switch (action) {
      case 'import': {
        const result = await site.importTransfer(file);
        out(
          `imported ${file}: generation ${result.generation} ${result.outcome === 'applied' ? 'applied' : 'already in place'}${result.images.length === 0 ? '' : `, ${result.images.length} image(s) pushed`}`,
        );
        return;
      }
      case 'export-reports': {
        if (existsSync(file))
          throw new FlotillaError('CONFLICT', `${file} exists; choose another file, or remove it first`, { file });
        const exported = await site.exportReports(file);
        out(`wrote ${file}: ${exported.seal.count} report(s) up to seq ${exported.seal.head.seq}, ${exported.digest}`);
        return;
      }
      case 'import-receipt': {
        const { receipt, pruned } = await site.importReceipt(file);
        out(`receipt up to seq ${receipt.head.seq}: ${pruned} report(s) confirmed and dropped from the journal`);
        return;
      }
    }
  } finally {
    await driver.close();
  }
}
