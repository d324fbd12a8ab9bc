import { writeSync } from 'node:fs';
import type { Command } from 'commander';
import { faultPoints, FlotillaError, type FaultPoint } from '@flotilla/protocol';
import { serveConfig } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { openHub } from '../../open-hub.ts';
import { stopOnSignals } from '../../stop-signals.ts';

/** `flotilla hub serve`: the hub on a data directory, until SIGTERM or SIGINT. */
export function serveCommand(program: Command): void {
  program
    .command('hub')
    .description('run the hub')
    .command('serve')
    .description('run the hub on a data directory (SQLite, keys and admin token are created on first start)')
    .option('--data-dir <dir>', 'where the hub keeps hub.db, keys/ and admin-token (env FLOTILLA_DATA_DIR)')
    .option('--port <port>', 'TCP port, 0 for any free one (env FLOTILLA_PORT)')
    .option('--host <host>', 'address to listen on (env FLOTILLA_HOST)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug (env FLOTILLA_LOG_LEVEL)')
    .option(
      '--log-format <format>',
      'json, or pretty for people; default pretty on a terminal, json otherwise (env FLOTILLA_LOG_FORMAT)',
    )
    .option(
      '--checkpoint-interval <duration>',
      'sign the audit chain head this often when it moved: seconds or 90s, 5m, 1h; 0 never (env FLOTILLA_AUDIT_CHECKPOINT_SECONDS, default 5m)',
    )
    .option(
      '--audit-retention-days <days>',
      'prune audit entries older than this many days (env FLOTILLA_AUDIT_RETENTION_DAYS, default keep forever)',
    )
    .action(async (_flags: unknown, command: Command) => {
      const config = serveConfig(command.optsWithGlobals(), process.env);
      const log = await createLogger({
        level: config.logLevel,
        format: config.logFormat,
        redact: ['req.headers.authorization', '*.token', '*.accessToken', '*.assertion'],
      });
      const {
        hub: server,
        adminTokenPath,
        createdAdminToken,
      } = await openHub({
        dataDir: config.dataDir,
        log,
        envelopeTtlMs: config.envelopeTtlSeconds * 1000,
        checkpointIntervalMs: config.checkpointInterval * 1000,
        ...(config.auditRetentionDays === undefined
          ? {}
          : { auditRetentionMs: config.auditRetentionDays * 86_400_000 }),
        faults: faultPoints(config.faults, killThisProcess),
      });
      stopOnSignals(() => server.close(), log);
      let url: string;
      try {
        url = await server.listen(config.port, config.host);
      } catch (error) {
        await server.close();
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        throw new FlotillaError(
          'CONFIG_INVALID',
          `port ${config.port} on ${config.host} is in use; stop what holds it, or choose another with --port (0 for any free one)`,
        );
      }
      log.info(
        {
          url,
          dataDir: config.dataDir,
          adminTokenPath,
          firstStart: createdAdminToken !== undefined,
          hubId: server.services.trust.hubId,
        },
        'hub listening',
      );
    });
}

/** What an armed fault point does: say so on stderr, then die at once, as a power cut would. */
function killThisProcess(point: FaultPoint, hit: number): void {
  writeSync(2, `flotilla: fault point ${point} reached (hit ${hit}); killing this process with SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
