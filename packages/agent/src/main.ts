import { CommanderError } from 'commander';
import { pino } from 'pino';
import { isFlotillaError, messageOf } from '@flotilla/protocol';
import { buildRuntime } from './build-runtime.ts';
import { agentProgram } from './cli/agent-program.ts';
import { runConfig } from './config.ts';
import { startHealthServer, type HealthServer } from './health-server.ts';

const program = agentProgram(async (flags) => {
  const config = runConfig(flags, process.env);
  const log = pino({ level: config.logLevel, redact: ['*.token', '*.accessToken', '*.assertion', '*.enrollToken'] });
  let health: HealthServer | undefined;
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    void runtime
      .stop()
      .then(() => health?.close())
      .finally(() => process.exit(code));
  };
  const runtime = buildRuntime(config, { env: process.env, log, onFatal: () => stop(1) });
  if (config.healthPort !== undefined) {
    health = await startHealthServer({ port: config.healthPort, check: runtime });
    log.info({ url: health.url }, 'health endpoint listening');
  }
  process.once('SIGINT', () => stop(0));
  process.once('SIGTERM', () => stop(0));
  await runtime.start();
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(
    `flotilla-agent: ${isFlotillaError(error) ? error.message : `unexpected error: ${messageOf(error)}`}\n`,
  );
  process.exit(1);
}
