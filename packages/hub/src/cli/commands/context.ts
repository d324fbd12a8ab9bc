import type { Command } from 'commander';
import { FlotillaError } from '@flotilla/protocol';
import { TargetPage } from '@flotilla/protocol/api';
import { ApiClient } from '../api-client.ts';
import type { CliEnvironment } from '../cli-environment.ts';
import { readTokenFile } from '../../config.ts';
import { Context, readCliConfig, saveContext, usingContext, withoutContext, writeCliConfig } from '../contexts.ts';
import { outputFormat, print } from '../output.ts';

/**
 * `flotilla login`: checks that the hub accepts the token, then saves hub and token as a
 * context in the operator's config file (mode 0600) and makes it current, so later commands
 * need neither flags nor variables.
 */
export function loginCommand(program: Command, cli: CliEnvironment): void {
  program
    .command('login')
    .description('save a hub and an API token as a context, and use it from now on')
    .option('--name <name>', 'the context name (default: the hub address, such as 127.0.0.1:7070)')
    .addHelpText(
      'after',
      '\nGive the hub with --hub (or FLOTILLA_HUB) and the token with --token-file FILE, or --token-file - to read it from standard input.',
    )
    .action(async (flags: { name?: string }) => {
      const options = cli.options();
      const hub = (options['hub'] as string | undefined) ?? (cli.env['FLOTILLA_HUB'] || undefined);
      if (hub === undefined)
        throw new FlotillaError(
          'CONFIG_INVALID',
          'name the hub to log in to: flotilla login --hub URL --token-file FILE',
        );
      const tokenFile = options['tokenFile'] as string | undefined;
      const token =
        (options['token'] as string | undefined) ??
        (tokenFile === undefined ? undefined : readTokenFile(tokenFile, '--token-file'));
      if (token === undefined)
        throw new FlotillaError(
          'CONFIG_INVALID',
          'give the API token with --token-file FILE, or --token-file - to read it from standard input',
        );
      const client = new ApiClient(hub, token, tokenFile === undefined ? '--token' : `--token-file ${tokenFile}`);
      // Any operator may list targets: the cheapest call that proves the hub takes the token.
      await client.call(TargetPage, 'GET', '/v1/targets?limit=1');
      const parsed = Context.safeParse({ name: flags.name ?? new URL(client.hubs[0]!).host, hub: client.hub, token });
      if (!parsed.success)
        throw new FlotillaError(
          'CONFIG_INVALID',
          `--name ${parsed.error.issues[0]?.path.join('.') === 'name' ? parsed.error.issues[0].message : 'is invalid'}`,
        );
      const previous = saveContext(cli.configFile, parsed.data);
      process.stdout.write(
        `logged in to ${parsed.data.hub}; context ${parsed.data.name} saved in ${cli.configFile} and in use${previous === undefined ? '' : ` (before: ${previous})`}\n`,
      );
    });
}

/** `flotilla context ls|use|rm`: the saved contexts. */
export function contextCommand(program: Command, cli: CliEnvironment): void {
  const context = program
    .command('context')
    .description('the saved hubs and tokens (contexts): list them, pick one, remove one');
  context
    .command('ls')
    .description('list the contexts; * marks the one in use')
    .option('-o, --output <format>', 'table, json or yaml (tokens are never shown)')
    .action((flags: { output?: string }) => {
      const config = readCliConfig(cli.configFile);
      const inUse = (cli.options()['context'] as string | undefined) ?? (cli.env['FLOTILLA_CONTEXT'] || undefined);
      const current = inUse ?? config.currentContext;
      const items = config.contexts.map((c) => ({ name: c.name, hub: c.hub, current: c.name === current }));
      print(outputFormat(flags.output), { currentContext: current ?? null, contexts: items }, () => [
        ['CURRENT', 'NAME', 'HUB'],
        ...items.map((c) => [c.current ? '*' : '', c.name, c.hub]),
      ]);
    });
  context
    .command('use <name>')
    .description('use this context from now on')
    .action((name: string) => {
      writeCliConfig(cli.configFile, usingContext(readCliConfig(cli.configFile), name));
      process.stdout.write(`using context ${name}\n`);
    });
  context
    .command('rm <name>')
    .description('remove a context and its token from the config file')
    .action((name: string) => {
      const config = readCliConfig(cli.configFile);
      writeCliConfig(cli.configFile, withoutContext(config, name));
      process.stdout.write(
        `removed context ${name}${config.currentContext === name ? '; no context is in use now (flotilla context use NAME)' : ''}\n`,
      );
    });
}
