import { CommanderError } from 'commander';
import { UsageError, usageErrorLine } from '@flotilla/runtime';
import { buildProgram } from './program.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** What a failure prints: `flotilla: ` and one line (a query error adds its caret line). */
async function failureText(error: unknown): Promise<string> {
  if (error instanceof UsageError) return usageErrorLine(error);
  // The protocol (and zod with it) is loaded only on this path, and by the commands that use it.
  const { isFlotillaError, messageOf } = await import('@flotilla/protocol');
  if (!isFlotillaError(error)) return `unexpected error: ${messageOf(error)}`;
  const caret = error.details?.['caret'];
  return `${error.message}${typeof caret === 'string' ? `\n${caret}` : ''}`;
}

/**
 * Runs `flotilla` with `argv` (the words after the command's name) and answers the exit
 * status: 0, or 1 after printing one line to stderr. Help and `--version` print and answer 0.
 */
export async function runCli(argv: readonly string[], env: Env): Promise<number> {
  try {
    if (argv[0] === '__complete') {
      // Only the command being completed is loaded, as when it runs: a TAB costs what a --help does.
      const words = argv.slice(1);
      const [{ complete }, program] = await Promise.all([import('./completion.ts'), buildProgram(words, env)]);
      process.stdout.write((await complete(program, words, env)).map((c) => `${c}\n`).join(''));
      return 0;
    }
    const program = await buildProgram(argv, env);
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(`flotilla: ${await failureText(error)}\n`);
    return 1;
  }
}
