import { CommanderError } from 'commander';
import { isFlotillaError } from '@flotilla/protocol';
import { buildProgram } from './cli/program.ts';

try {
  await buildProgram(process.env).parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const message = isFlotillaError(error) ? error.message : `unexpected error: ${(error as Error).message}`;
  process.stderr.write(`flotilla: ${message}\n`);
  process.exit(1);
}
