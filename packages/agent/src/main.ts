import { writeSync } from 'node:fs';
import { CommanderError } from 'commander';
import { faultPoints, FlotillaError, isFlotillaError, messageOf, type FaultPoint } from '@flotilla/protocol';
import {
  createLogger,
  startMetricsServer,
  stopOnSignals,
  UsageError,
  usageErrorLine,
  type MetricsServer,
} from '@flotilla/runtime';
import { FileAgentStore } from './agent-state.ts';
import { buildRuntime } from './build-runtime.ts';
import { agentProgram } from './cli/agent-program.ts';
import { collectStartGarbage } from './collect-start-garbage.ts';
import { runConfig } from './config.ts';
import { startHealthServer, type HealthServer } from './health-server.ts';
import { requestKeyRotation } from './key-rotation.ts';
import type { AgentMetrics } from './metrics/agent-metrics.ts';

const program = agentProgram(
  async (flags) => {
    const config = runConfig(flags, process.env);
    const log = await createLogger({
      level: config.logLevel,
      format: config.logFormat,
      redact: ['*.token', '*.accessToken', '*.assertion', '*.enrollToken'],
    });
    let health: HealthServer | undefined;
    let metricsServer: MetricsServer | undefined;
    // Loaded only when asked for: prom-client costs a small edge host memory and start time.
    const metrics: AgentMetrics | undefined =
      config.metricsPort === undefined ? undefined : new (await import('./metrics/agent-metrics.ts')).AgentMetrics();
    const runtime = buildRuntime(config, {
      env: process.env,
      log,
      onFatal: () => void stopping(1),
      faults: faultPoints(config.faults, killThisProcess),
      ...(metrics === undefined ? {} : { metrics }),
      // V8 would return what the start left behind only 8-16 s later; the agent is idle now.
      onFirstObserved: () => void collectStartGarbage(log),
    });
    const stop = async (): Promise<void> => {
      await runtime.stop();
      await health?.close();
      await metricsServer?.close();
    };
    let stopped = false;
    const stopping = (code: number): void => {
      if (stopped) return;
      stopped = true;
      void stop().finally(() => process.exit(code));
    };
    stopOnSignals(stop, log);
    if (config.healthPort !== undefined) {
      health = await startHealthServer({ port: config.healthPort, check: runtime });
      log.info({ url: health.url }, 'health endpoint listening');
    }
    if (metrics !== undefined && config.metricsPort !== undefined) {
      metricsServer = await startMetricsServer({ port: config.metricsPort, scrape: () => metrics.scrape(), log });
      log.info({ url: metricsServer.url }, 'metrics endpoint listening');
    }
    await runtime.start();
  },
  async (flags) => {
    const stateDir = flags.stateDir ?? process.env['FLOTILLA_AGENT_STATE_DIR'];
    if (stateDir === undefined || stateDir === '' || !new FileAgentStore(stateDir).hasKey())
      throw new FlotillaError(
        'CONFIG_INVALID',
        `--state-dir must name the state directory of an agent (one holding agent-key.json), received ${JSON.stringify(stateDir ?? '')}`,
      );
    await requestKeyRotation(new FileAgentStore(stateDir), Date.now());
    process.stdout.write(`key rotation requested for the agent of ${stateDir}; it rotates at its next turn\n`);
  },
  async (action, file, flags) => {
    const { runOfflineCommand } = await import('./offline/offline-command.ts');
    await runOfflineCommand(action, file, flags, process.env, (line) => process.stdout.write(`${line}\n`));
  },
);

/** What an armed fault point does: say so on stderr, then die at once, as a power cut would. */
function killThisProcess(point: FaultPoint, hit: number): void {
  writeSync(2, `flotilla-agent: fault point ${point} reached (hit ${hit}); killing this process with SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const line =
    error instanceof UsageError
      ? usageErrorLine(error)
      : isFlotillaError(error)
        ? error.message
        : `unexpected error: ${messageOf(error)}`;
  process.stderr.write(`flotilla-agent: ${line}\n`);
  process.exit(1);
}
