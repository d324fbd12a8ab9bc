import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { CliCommand } from '@flotilla/runtime';
import { COMMAND_GROUPS, type CommandGroup } from './command-groups.ts';
import { joinRepeated } from './repeated-option.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The version of this `flotilla`, from its package (the same file in src/ and dist/). */
export const CLI_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Options every operator command takes, before its name or after it. */
const GLOBAL_OPTIONS: readonly [flags: string, description: string, repeatable?: true][] = [
  [
    '--hub <url>',
    'the hub API; several replicas: repeat it or separate URLs with commas, tried in turn when one is down (env FLOTILLA_HUB; default: the context, else http://127.0.0.1:7070)',
    true,
  ],
  ['--token <token>', 'an API token (env FLOTILLA_TOKEN)'],
  ['--token-file <file>', 'a file holding the API token, - for standard input (env FLOTILLA_TOKEN_FILE)'],
  ['--context <name>', 'a saved context other than the current one (env FLOTILLA_CONTEXT; flotilla context ls)'],
  ['--data-dir <dir>', 'a local hub data directory, whose admin-token to use (env FLOTILLA_DATA_DIR)'],
];

/** Which top-level command `argv` runs: the first word that is not a global option or its value. */
function invokedName(program: Command, argv: readonly string[]): string | undefined {
  const takesValue = new Set(
    program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short].filter((f) => f)),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return argv[i + 1];
    if (arg.startsWith('-')) {
      if (takesValue.has(arg)) i++;
      continue;
    }
    return arg === 'help' ? argv[i + 1] : arg;
  }
  return undefined;
}

function matches(group: CommandGroup, name: string | undefined): boolean {
  return name === group.name || (name !== undefined && (group.aliases ?? []).includes(name));
}

/**
 * Global options are parsed as the program's only before a command's name, so that a command
 * may have an option of the same name (`release publish --version`, `hub serve --data-dir`).
 * To take them after the name as well, each command that does not define one gets a hidden
 * copy; `optsWithGlobals()` then holds whichever was given.
 */
function acceptGlobalOptions(command: Command): void {
  for (const sub of command.commands) acceptGlobalOptions(sub);
  if (command.commands.length > 0) return;
  for (const [flags, description, repeatable] of GLOBAL_OPTIONS) {
    const option = new Option(flags, description).hideHelp();
    if (repeatable) option.argParser(joinRepeated);
    if (!command.options.some((o) => o.long === option.long)) command.addOption(option);
  }
}

/**
 * The `flotilla` command line: the hub server and the operator's commands. Only the command
 * `argv` runs is loaded (all of them with `all`, for tests); the others appear
 * in the help by name and summary.
 */
export async function buildProgram(
  argv: readonly string[],
  env: Env,
  options: { all?: boolean } = {},
): Promise<Command> {
  const program = new CliCommand('flotilla')
    .description('Flotilla: the control plane for fleets of Kubernetes clusters and edge sites')
    .version(CLI_VERSION, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  for (const [flags, description, repeatable] of GLOBAL_OPTIONS) {
    const option = new Option(flags, description);
    if (repeatable) option.argParser(joinRepeated);
    program.addOption(option);
  }
  const invoked = invokedName(program, argv);
  const load = COMMAND_GROUPS.filter((group) => options.all === true || matches(group, invoked));
  const cli = load.length === 0 ? undefined : (await import('./cli-environment.ts')).cliEnvironment(program, env);
  for (const group of COMMAND_GROUPS) {
    if (cli !== undefined && load.includes(group)) {
      await group.register(program, cli);
      const command = program.commands.find((c) => c.name() === group.name);
      if (command !== undefined) acceptGlobalOptions(command);
    } else {
      program
        .command(group.name)
        .aliases([...(group.aliases ?? [])])
        .description(group.summary);
    }
  }
  return program;
}
