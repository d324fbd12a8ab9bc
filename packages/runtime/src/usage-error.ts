import { Command, type ErrorOptions } from 'commander';

/** A command line the program cannot run: an unknown command or option, a missing argument. */
export class UsageError extends Error {
  /** Commander's code, such as `commander.unknownOption`. */
  readonly code: string;
  /** The command whose arguments were wrong, for the hint. */
  readonly command: Command;

  constructor(message: string, code: string, command: Command) {
    super(message);
    this.name = 'UsageError';
    this.code = code;
    this.command = command;
  }
}

/**
 * A commander `Command` whose parse errors are thrown as `UsageError`s, with the command they
 * belong to, instead of being printed with the whole help: the program prints one line.
 */
export class CliCommand extends Command {
  override createCommand(name?: string): CliCommand {
    return new CliCommand(name);
  }

  override error(message: string, options?: ErrorOptions): never {
    throw new UsageError(message, options?.code ?? 'commander.error', this);
  }
}

/** `flotilla targets ls`: the command's name with its parents'. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * One line for a usage error: what is wrong, commander's suggestion if it has one, and where
 * to look next.
 *
 * @example "unknown command 'targts' (did you mean targets?); 'flotilla --help' lists the commands"
 */
export function usageErrorLine(error: UsageError): string {
  const path = commandPath(error.command);
  let message = error.message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.+)\)$/s, ' (did you mean $1)')
    .replace(/\s*\n\s*/g, ' ');
  // An option's own parser explains itself: keep only its words, not commander's preamble.
  if (error.code === 'commander.invalidArgument')
    message = message.replace(/^.*? is invalid(?: for argument '[^']*')?\. /, '');
  const { code } = error;
  const hint =
    code === 'commander.unknownCommand'
      ? `'${path} --help' lists the commands`
      : code === 'commander.unknownOption'
        ? `'${path} --help' lists its options`
        : code === 'commander.missingArgument' ||
            code === 'commander.optionMissingArgument' ||
            code === 'commander.missingMandatoryOptionValue' ||
            code === 'commander.excessArguments'
          ? `usage: ${path} ${error.command.usage()}`
          : `see '${path} --help'`;
  return `${message}; ${hint}`;
}
