import { writeSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { FaultSpec, faultPoints, FlotillaError, type FaultPoint } from '@flotilla/protocol';
import { copyStore } from '../../store/copy/copy-store.ts';
import { redactedUrl } from '../../store/postgres/redacted-url.ts';

type Env = Readonly<Record<string, string | undefined>>;

const CopyFlags = z.object({
  from: z
    .string()
    .regex(/^sqlite:.+/, 'must be sqlite:PATH, the hub.db file of the hub to copy')
    .transform((text) => text.slice('sqlite:'.length)),
  to: z.string().regex(/^postgres(ql)?:\/\/.+/, 'must be a postgres://user:password@host:5432/db URL'),
  replace: z.boolean().default(false),
});

/**
 * `flotilla store copy`: moves a hub's SQLite store into PostgreSQL, where several replicas
 * can share it (docs/scale-out.md).
 */
export function storeCommand(program: Command, env: Env): void {
  const store = program
    .command('store')
    .description("the hub's store: copy it from SQLite to PostgreSQL for replicas (docs/scale-out.md)");
  store
    .command('copy')
    .description(
      "copy a stopped hub's SQLite store into an empty PostgreSQL database, in one transaction, and verify it",
    )
    .requiredOption('--from <sqlite:path>', "the hub's SQLite file, such as sqlite:.flotilla/hub/hub.db")
    .requiredOption('--to <url>', 'the PostgreSQL database, postgres://user:password@host:5432/db')
    .option('--replace', 'empty a target that already holds a store first (its rows are lost)')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = CopyFlags.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new FlotillaError('CONFIG_INVALID', `--${issue.path.join('.')} ${issue.message}`);
      }
      const flags = parsed.data;
      const faults = FaultSpec.safeParse(env['FLOTILLA_FAULT'] ?? '');
      if (!faults.success)
        throw new FlotillaError('CONFIG_INVALID', `FLOTILLA_FAULT ${faults.error.issues[0]?.message ?? 'is invalid'}`);
      const started = Date.now();
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar(
            {
              format: ' {table} |{bar}| {value}/{total} rows',
              stream: process.stderr,
              hideCursor: true,
              clearOnComplete: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      let width = 0;
      try {
        const result = await copyStore({
          from: flags.from,
          to: flags.to,
          replace: flags.replace,
          faults: faultPoints(faults.data, killThisProcess),
          onPlan: (tables) => {
            width = Math.max(...tables.map((t) => t.name.length));
            bar?.start(
              Math.max(
                1,
                tables.reduce((sum, t) => sum + t.rows, 0),
              ),
              0,
              { table: ''.padEnd(width) },
            );
          },
          onProgress: (copied, table) => bar?.update(copied, { table: table.padEnd(width) }),
        });
        bar?.stop();
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        const audit = result.audit;
        process.stdout.write(
          `copied ${result.tables.length} tables, ${result.rows} rows from sqlite:${flags.from} to ${redactedUrl(flags.to)}${result.replaced ? ' (replacing what it held)' : ''} in ${seconds}s; row counts match, audit chain verified (${audit.entries} entries, ${audit.checkpoints} checkpoints)\n`,
        );
      } catch (error) {
        bar?.stop();
        throw error;
      }
    });
}

/** What the armed fault point does: say so on stderr, then die at once, as a power cut would. */
function killThisProcess(point: FaultPoint, hit: number): void {
  writeSync(2, `flotilla: fault point ${point} reached (hit ${hit}); killing this process with SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
