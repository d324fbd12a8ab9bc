import type { Command } from 'commander';
import { pino } from 'pino';
import { serveConfig } from '../../config.ts';
import { openHub } from '../../open-hub.ts';

export function serveCommand(hub: Command): void {
  hub
    .command('serve')
    .description('run the hub on a data directory (SQLite, keys and admin token are created on first start)')
    .option('--data-dir <dir>', 'where the hub keeps hub.db, keys/ and admin-token (env FLOTILLA_DATA_DIR)')
    .option('--port <port>', 'TCP port, 0 for any free one (env FLOTILLA_PORT)')
    .option('--host <host>', 'address to listen on (env FLOTILLA_HOST)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug (env FLOTILLA_LOG_LEVEL)')
    .option(
      '--checkpoint-interval <duration>',
      'sign the audit chain head this often when it moved: seconds or 90s, 5m, 1h; 0 never (env FLOTILLA_AUDIT_CHECKPOINT_SECONDS, default 5m)',
    )
    .option(
      '--audit-retention-days <days>',
      'prune audit entries older than this many days (env FLOTILLA_AUDIT_RETENTION_DAYS, default keep forever)',
    )
    .action(async (flags: Record<string, unknown>) => {
      const config = serveConfig(flags, process.env);
      const log = pino({
        level: config.logLevel,
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
      });
      const url = await server.listen(config.port, config.host);
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
      const stop = (): void => {
        log.info('hub stopping');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
