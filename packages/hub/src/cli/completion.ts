import type { Command, Option } from 'commander';

type Env = Readonly<Record<string, string | undefined>>;

/** Values an option takes, where there is a fixed set. */
const OPTION_VALUES: Readonly<Record<string, readonly string[]>> = {
  '--output': ['table', 'json', 'yaml'],
  '--log-format': ['json', 'pretty'],
  '--log-level': ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  '--state': ['running', 'paused', 'completed', 'aborted', 'rolled-back', 'open', 'closed', 'all'],
  '--class': ['acceptable', 'transient', 'suspicious', 'dangerous'],
};

/** The saved contexts' names; the config modules (YAML, zod) load only when a name is wanted. */
async function contextNames(env: Env): Promise<string[]> {
  const [{ cliConfigPath }, { readCliConfig }] = await Promise.all([import('../config.ts'), import('./contexts.ts')]);
  try {
    return readCliConfig(cliConfigPath(env)).contexts.map((c) => c.name);
  } catch {
    return [];
  }
}

function optionsOf(command: Command): Option[] {
  const all: Option[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) all.push(...c.options);
  return all;
}

function findOption(command: Command, flag: string): Option | undefined {
  return optionsOf(command).find((o) => o.long === flag || o.short === flag);
}

/** The values the word after `option` may take, or undefined where any text goes (a file, a query). */
async function optionValues(option: Option, env: Env): Promise<readonly string[] | undefined> {
  if (option.long === '--context') return contextNames(env);
  return OPTION_VALUES[option.long ?? ''];
}

/** What the positional argument of `command` may be, where Flotilla knows the set. */
async function argumentValues(command: Command, env: Env): Promise<string[]> {
  const path = `${command.parent?.name() ?? ''} ${command.name()}`;
  if (path === 'context use' || path === 'context rm') return contextNames(env);
  if (path === 'flotilla completion') return ['bash', 'zsh', 'fish'];
  return [];
}

/**
 * The words that may complete the last of `words` (the command line after `flotilla`, the
 * last being the word under the cursor, possibly empty): subcommands, options of the command
 * reached so far, fixed option values, context names. The shell scripts of
 * `flotilla completion` call this as `flotilla __complete WORD…`, as cobra's programs do.
 */
export async function complete(program: Command, words: readonly string[], env: Env): Promise<string[]> {
  let command = program;
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let pendingValue: Option | undefined;
  let operands = 0;
  for (const word of before) {
    if (pendingValue !== undefined) {
      pendingValue = undefined;
      continue;
    }
    if (word.startsWith('-')) {
      const option = word.includes('=') ? undefined : findOption(command, word);
      if (option !== undefined && (option.required || option.optional)) pendingValue = option;
      continue;
    }
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub !== undefined && operands === 0) command = sub;
    else operands++;
  }
  let candidates: readonly string[];
  if (pendingValue !== undefined) candidates = (await optionValues(pendingValue, env)) ?? [];
  else if (current.startsWith('-'))
    candidates = optionsOf(command)
      .filter((o) => !o.hidden && o.long !== undefined)
      .map((o) => o.long!)
      .concat(['--help']);
  else
    candidates = [
      ...command.commands.filter((c) => !c.name().startsWith('_')).map((c) => c.name()),
      ...(await argumentValues(command, env)),
    ];
  return [...new Set(candidates)].filter((c) => c.startsWith(current)).sort();
}
