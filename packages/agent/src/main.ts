import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { isFlotillaError } from '@flotilla/protocol';
import { Agent } from './agent.ts';
import { runConfig } from './config.ts';
import { ManifestsDirDriver } from './drivers/manifests-dir.ts';

const program = new Command('flotilla-agent')
  .description('the Flotilla agent: pulls signed desired state from the hub, applies it, observes and reports')
  .exitOverride();

program
  .command('run')
  .description('enroll (first start only) and keep the target in its desired state')
  .option('--hub <url>', 'the hub URL (env FLOTILLA_HUB)')
  .option('--enroll-token <token>', 'enrollment token, needed on first start only (env FLOTILLA_ENROLL_TOKEN)')
  .option('--state-dir <dir>', 'where the key pair, enrollment and journal live (env FLOTILLA_AGENT_STATE_DIR)')
  .option('--name <name>', 'the target name to ask for at enrollment')
  .option('--driver <driver>', 'manifests-dir (env FLOTILLA_AGENT_DRIVER)')
  .option('--root <dir>', 'manifests-dir: the directory to write manifests into')
  .option('--wait-seconds <n>', 'how long one long-poll waits at the hub')
  .option('--observe-seconds <n>', 'how often resources are re-observed')
  .option('--log-level <level>', 'fatal, error, warn, info, debug')
  .action(async (flags: Record<string, unknown>) => {
    const config = runConfig(flags, process.env);
    const log = pino({ level: config.logLevel, redact: ['*.token', '*.accessToken', '*.assertion', '*.enrollToken'] });
    const agent = new Agent({
      hubUrl: config.hub,
      stateDir: config.stateDir,
      driver: new ManifestsDirDriver(config.root!),
      log,
      enrollToken: config.enrollToken,
      name: config.name,
      waitSeconds: config.waitSeconds,
      observeIntervalMs: config.observeSeconds * 1000,
    });
    const stop = (): void => {
      void agent.stop().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await agent.start();
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`flotilla-agent: ${isFlotillaError(error) ? error.message : `unexpected error: ${(error as Error).message}`}\n`);
  process.exit(1);
}
