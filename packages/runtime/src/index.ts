/**
 * `@flotilla/runtime`: what the hub's and the agent's processes both need around their own
 * work, and which does I/O, so it cannot live in `@flotilla/protocol`: the root logger,
 * stopping on signals, one-line command-line usage errors, the Prometheus scrape endpoint,
 * and files written durably (fsync, then rename) and read in reused chunks.
 */
export { createLogger, type LogFormat, type LoggerOptions } from './logger.ts';
export { stopOnSignals } from './stop-signals.ts';
export { CliCommand, commandPath, UsageError, usageErrorLine } from './usage-error.ts';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics-server.ts';
export { streamOf, syncDirectory, writeFileDurably, writeNewFile } from './durable-file.ts';
export { fileChunks } from './file-chunks.ts';
