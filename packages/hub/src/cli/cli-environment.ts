import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { cliConfigPath, clientConfig, type ClientConfig } from '../config.ts';
import { readCliConfig } from './contexts.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** What the commands receive: the environment, the config file, and the hub client in effect. */
export interface CliEnvironment {
  readonly env: Env;
  /** The operator's config file of contexts. */
  readonly configFile: string;
  /** The options of the command being run, with the global ones (given before or after it). */
  readonly options: () => Record<string, unknown>;
  /** The hub, token and context in effect for the command being run. */
  readonly clientConfig: () => ClientConfig;
  /** An API client for that hub and token. */
  readonly client: () => ApiClient;
}

/**
 * The environment of one run of `program`: the client reads the global options of the command
 * about to run (commander's preAction hook tells which), so `--hub` works before the command
 * name or after it.
 */
export function cliEnvironment(program: Command, env: Env): CliEnvironment {
  let running: Command = program;
  program.hook('preAction', (_program, action) => {
    running = action;
  });
  const configFile = cliConfigPath(env);
  const environment: CliEnvironment = {
    env,
    configFile,
    options: () => running.optsWithGlobals(),
    clientConfig: () => clientConfig(environment.options(), env, readCliConfig(configFile)),
    client: () => {
      const config = environment.clientConfig();
      return new ApiClient(config.hub, config.token, config.tokenSource);
    },
  };
  return environment;
}
