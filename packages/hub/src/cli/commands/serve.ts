import { writeSync } from 'node:fs';
import type { Command } from 'commander';
import { faultPoints, FlotillaError, type FaultPoint } from '@flotilla/protocol';
import { createLogger, startMetricsServer, stopOnSignals, type MetricsServer } from '@flotilla/runtime';
import { serveConfig } from '../../config.ts';
import { connectionCap, openFileLimit } from '../../fd-limit.ts';
import { openHub, redactedUrl } from '../../open-hub.ts';

/** `flotilla hub serve`: the hub on a data directory, until SIGTERM or SIGINT. */
export function serveCommand(program: Command): void {
  program
    .command('hub')
    .description('run the hub')
    .command('serve')
    .description('run the hub on a data directory (SQLite, keys and admin token are created on first start)')
    .option('--data-dir <dir>', 'where the hub keeps hub.db, keys/ and admin-token (env FLOTILLA_DATA_DIR)')
    .option(
      '--database <url>',
      'keep the store in PostgreSQL, postgres://user:password@host:5432/db, shared by every replica; default SQLite in the data directory (env FLOTILLA_DATABASE_URL)',
    )
    .option('--port <port>', 'TCP port, 0 for any free one (env FLOTILLA_PORT)')
    .option('--host <host>', 'address to listen on (env FLOTILLA_HOST)')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at /metrics on this port, without authentication; default off (env FLOTILLA_METRICS_PORT)',
    )
    .option('--metrics-host <host>', 'address for the metrics port; default --host (env FLOTILLA_METRICS_HOST)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug (env FLOTILLA_LOG_LEVEL)')
    .option(
      '--log-format <format>',
      'json, or pretty for people; default pretty on a terminal, json otherwise (env FLOTILLA_LOG_FORMAT)',
    )
    .option(
      '--envelope-drift-policy <form>',
      'digest: envelopes name the drift policy, agents fetch it once; inline: they carry it whole, for agents older than digests; auto: by digest to agents that report they read it, whole to the rest (env FLOTILLA_ENVELOPE_DRIFT_POLICY, default digest)',
    )
    .option(
      '--checkpoint-interval <duration>',
      'sign the audit chain head this often when it moved: seconds or 90s, 5m, 1h; 0 never (env FLOTILLA_AUDIT_CHECKPOINT_SECONDS, default 5m)',
    )
    .option(
      '--audit-retention-days <days>',
      'prune audit entries older than this many days (env FLOTILLA_AUDIT_RETENTION_DAYS, default keep forever)',
    )
    .option(
      '--report-retention <duration>',
      "prune agents' reports received longer ago than this, in hours or days (12h, 30d), keeping each target's newest (env FLOTILLA_REPORT_RETENTION, default 30d)",
    )
    .option(
      '--max-connections <n>',
      'the most connections held at once; more are closed at once (env FLOTILLA_MAX_CONNECTIONS, default the open-file limit less 512)',
    )
    .option(
      '--report-workers <n>',
      "worker threads that read and verify agents' reports; 0 on the event loop (env FLOTILLA_REPORT_WORKERS, default one less than the cores, 1 to 4)",
    )
    .option(
      '--stream-heartbeat-seconds <s>',
      'how often agent streams are pinged (env FLOTILLA_STREAM_HEARTBEAT_SECONDS, default 30)',
    )
    .option(
      '--rollout-issue-batch <n>',
      'the most envelopes one batch of a rollout wave issues before other requests are served (env FLOTILLA_ROLLOUT_ISSUE_BATCH, default 256)',
    )
    .option(
      '--rollout-enlist-slice <n>',
      'the most members one step of a rollout wave records before other requests are served (env FLOTILLA_ROLLOUT_ENLIST_SLICE, default 1000)',
    )
    .option(
      '--rollout-issue-delay-ms <ms>',
      "how long a wave's member waits for its agent's fetch before a batch issues its envelope (env FLOTILLA_ROLLOUT_ISSUE_DELAY_MS, default 2000)",
    )
    .option(
      '--turn-budget-ms <ms>',
      "what the hub's background work in slices (rollout notices and steps, envelope batches, catch-ups) may take of one turn of the event loop, all of it together (env FLOTILLA_TURN_BUDGET_MS, default 50)",
    )
    .action(async (_flags: unknown, command: Command) => {
      const config = serveConfig(command.optsWithGlobals(), process.env);
      const log = await createLogger({
        level: config.logLevel,
        format: config.logFormat,
        redact: ['req.headers.authorization', '*.token', '*.accessToken', '*.assertion'],
      });
      const maxConnections = config.maxConnections ?? connectionCap(openFileLimit());
      const {
        hub: server,
        adminTokenPath,
        createdAdminToken,
      } = await openHub({
        dataDir: config.dataDir,
        ...(config.database === undefined ? {} : { database: config.database }),
        log,
        envelopeTtlMs: config.envelopeTtlSeconds * 1000,
        envelopeDriftPolicy: config.envelopeDriftPolicy,
        checkpointIntervalMs: config.checkpointInterval * 1000,
        rolloutIssueBatch: config.rolloutIssueBatch,
        rolloutEnlistSlice: config.rolloutEnlistSlice,
        rolloutIssueDelayMs: config.rolloutIssueDelayMs,
        turnBudgetMs: config.turnBudgetMs,
        stream: { heartbeatMs: config.streamHeartbeatSeconds * 1000 },
        ...(maxConnections === undefined ? {} : { maxConnections }),
        ...(config.reportWorkers === undefined ? {} : { reportWorkers: config.reportWorkers }),
        ...(config.auditRetentionDays === undefined
          ? {}
          : { auditRetentionMs: config.auditRetentionDays * 86_400_000 }),
        reportRetentionMs: config.reportRetention,
        ...(config.testReportPruneBatch === undefined ? {} : { reportPruneBatch: config.testReportPruneBatch }),
        faults: faultPoints(config.faults, killThisProcess),
        ...(config.testStoreMaxPages === undefined ? {} : { testStoreMaxPages: config.testStoreMaxPages }),
      });
      let metrics: MetricsServer | undefined;
      stopOnSignals(async () => {
        await metrics?.close();
        await server.close();
      }, log);
      let url: string;
      try {
        if (config.metricsPort !== undefined)
          metrics = await startMetricsServer({
            port: config.metricsPort,
            host: config.metricsHost ?? config.host,
            scrape: () => server.metrics.scrape(),
            log,
          }).catch((error: unknown) => {
            throw inUse(error, config.metricsPort ?? 0, config.metricsHost ?? config.host, '--metrics-port');
          });
        url = await server.listen(config.port, config.host).catch((error: unknown) => {
          throw inUse(error, config.port, config.host, '--port');
        });
      } catch (error) {
        await metrics?.close();
        await server.close();
        throw error;
      }
      log.info(
        {
          url,
          dataDir: config.dataDir,
          ...(config.database === undefined ? {} : { database: redactedUrl(config.database) }),
          adminTokenPath,
          firstStart: createdAdminToken !== undefined,
          hubId: server.services.trust.hubId,
          ...(metrics === undefined ? {} : { metrics: metrics.url }),
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

/** A listen error, or for a port in use the one readable line that says what to do. */
function inUse(error: unknown, port: number, host: string, flag: string): unknown {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') return error;
  return new FlotillaError(
    'CONFIG_INVALID',
    `port ${port} on ${host} is in use; stop what holds it, or choose another with ${flag} (0 for any free one)`,
  );
}
