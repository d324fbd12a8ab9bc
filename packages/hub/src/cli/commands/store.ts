import { writeSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { FaultSpec, faultPoints, FlotillaError, type FaultPoint } from '@flotilla/protocol';
import { compactStore } from '../../store/compact.ts';
import { redactedUrl } from '../../store/postgres/redacted-url.ts';

type Env = Readonly<Record<string, string | undefined>>;

const SQLITE = /^sqlite:(.+)$/;
const POSTGRES = /^postgres(ql)?:\/\/.+/;
const STORE = 'must be sqlite:PATH (a hub.db file) or a postgres://user:password@host:5432/db URL';

const CopyFlags = z
  .object({
    from: z.string().refine((text) => SQLITE.test(text) || POSTGRES.test(text), STORE),
    to: z.string().refine((text) => SQLITE.test(text) || POSTGRES.test(text), STORE),
    replace: z.boolean().default(false),
  })
  .refine((flags) => SQLITE.test(flags.from) !== SQLITE.test(flags.to), {
    path: ['to'],
    message: 'must be the other kind of store than --from: the copy goes from sqlite:PATH to postgres://… or back',
  });

/**
 * `flotilla store copy`: moves a hub's SQLite store into PostgreSQL, where several replicas
 * can share it, or a PostgreSQL store back into a SQLite file (docs/scale-out.md).
 */
export function storeCommand(program: Command, env: Env): void {
  const store = program
    .command('store')
    .description(
      "the hub's store: copy it from SQLite to PostgreSQL for replicas, or back (docs/scale-out.md); compact a SQLite one",
    );
  store
    .command('copy')
    .description(
      "copy a stopped hub's SQLite store into an empty PostgreSQL database (or back into a new SQLite file) in one transaction, and verify it",
    )
    .requiredOption(
      '--from <store>',
      'the store to copy: sqlite:PATH, such as sqlite:.flotilla/hub/hub.db, or postgres://…',
    )
    .requiredOption(
      '--to <store>',
      'where to copy it: postgres://user:password@host:5432/db, or sqlite:PATH (a new file) for the way back',
    )
    .option('--replace', 'replace a target that already holds a store (its rows are lost)')
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
              // Left visible: a copy stopped with Ctrl-C must not leave the terminal without one.
              hideCursor: false,
              clearOnComplete: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      let width = 0;
      try {
        const toPostgres = POSTGRES.test(flags.to);
        const copy = toPostgres
          ? (await import('../../store/copy/copy-to-postgres.ts')).copyToPostgres
          : (await import('../../store/copy/copy-to-sqlite.ts')).copyToSqlite;
        const result = await copy({
          from: toPostgres ? sqlitePath(flags.from) : flags.from,
          to: toPostgres ? flags.to : sqlitePath(flags.to),
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
          `copied ${result.tables.length} tables, ${result.rows} rows from ${shown(flags.from)} to ${shown(flags.to)}${result.replaced ? ' (replacing what it held)' : ''} in ${seconds}s; row counts match, audit chain verified (${audit.entries} entries, ${audit.checkpoints} checkpoints)\n`,
        );
      } catch (error) {
        bar?.stop();
        throw error;
      }
    });
  store
    .command('compact')
    .description(
      "rewrite a stopped hub's SQLite store without its free pages, in the mode in which the hub then gives back what each prune frees as it goes",
    )
    .argument('<store>', 'the store: sqlite:PATH, such as sqlite:.flotilla/hub/hub.db')
    .action((text: string) => {
      if (!SQLITE.test(text))
        throw new FlotillaError(
          'CONFIG_INVALID',
          `the store must be sqlite:PATH (a hub.db file), received ${JSON.stringify(text)}; PostgreSQL's autovacuum gives space back itself`,
        );
      const path = sqlitePath(text);
      const started = Date.now();
      const compacted = compactStore(path);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `compacted ${text} in ${seconds}s: ${megabytes(compacted.bytesBefore)} → ${megabytes(compacted.bytesAfter)}; ${
          compacted.wasIncremental
            ? 'the hub already gave back the space each prune frees'
            : 'from now on the hub gives back the space each prune frees'
        }\n`,
      );
    });
}

/** What the armed fault point does: say so on stderr, then die at once, as a power cut would. */
function killThisProcess(point: FaultPoint, hit: number): void {
  writeSync(2, `flotilla: fault point ${point} reached (hit ${hit}); killing this process with SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}

function sqlitePath(text: string): string {
  return SQLITE.exec(text)![1]!;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** A store as the summary names it: a PostgreSQL URL without its password. */
function shown(store: string): string {
  return SQLITE.test(store) ? store : redactedUrl(store);
}
