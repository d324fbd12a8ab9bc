import { CommanderError } from 'commander';
import { isFlotillaError, messageOf } from '@flotilla/protocol';
import { buildProgram } from './cli/program.ts';

try {
  await buildProgram(process.env).parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const message = isFlotillaError(error) ? error.message : `unexpected error: ${messageOf(error)}`;
  // A query error carries the query with a caret under the column it is about.
  const caret =
    isFlotillaError(error) && typeof error.details?.['caret'] === 'string' ? `\n${error.details['caret']}` : '';
  process.stderr.write(`flotilla: ${message}${caret}\n`);
  process.exit(1);
}
