import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { FlotillaError, messageOf, parseHubUrls } from '@flotilla/protocol';
import { writeSecretFile } from '../key-files.ts';

function isHubList(value: string): boolean {
  try {
    parseHubUrls(value, 'hub');
    return true;
  } catch {
    return false;
  }
}

/** A hub and the API token to call it with, under a name, as a kubectl or argocd context. */
export const Context = z.object({
  name: z
    .string()
    .min(1)
    .max(128)
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/,
      'must be letters, digits and . _ : @ / -, starting with a letter or digit',
    ),
  /** One hub URL, or several replicas' separated by commas (the CLI moves to the next when one is down). */
  hub: z.string().refine(isHubList, { error: 'must be an http(s) URL, or several separated by commas' }),
  token: z.string().min(1),
});
export type Context = z.infer<typeof Context>;

/** The operator's config file: the contexts `flotilla login` saved, and which one is in use. */
export const CliConfig = z.object({
  apiVersion: z.literal('flotilla.io/v1').default('flotilla.io/v1'),
  kind: z.literal('CliConfig').default('CliConfig'),
  currentContext: z.string().min(1).optional(),
  contexts: z.array(Context).default([]),
});
export type CliConfig = z.infer<typeof CliConfig>;

const EMPTY: CliConfig = { apiVersion: 'flotilla.io/v1', kind: 'CliConfig', contexts: [] };

/** Reads the config file; a missing file is an empty config, an unreadable one an error naming it. */
export function readCliConfig(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw new FlotillaError('CONFIG_INVALID', `cannot read the config file ${path}: ${messageOf(error)}`);
  }
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (error) {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `the config file ${path} is not valid YAML: ${messageOf(error).split('\n')[0]}; fix it, or remove it and log in again`,
    );
  }
  const result = CliConfig.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new FlotillaError(
      'CONFIG_INVALID',
      `the config file ${path} is not a Flotilla config: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}; fix it, or remove it and log in again`,
    );
  }
  return result.data;
}

/**
 * Writes the config file, mode 0600 in a directory of mode 0700 (it holds API tokens),
 * atomically: a reader sees the old file or the new one.
 */
export function writeCliConfig(path: string, config: CliConfig): void {
  writeSecretFile(
    path,
    `# Flotilla CLI contexts, written by flotilla login and flotilla context. It holds API tokens: keep it mode 0600.\n${stringify(config)}`,
  );
}

/** The config with `context` added (or replacing the one of the same name) and made current. */
export function withContext(config: CliConfig, context: Context): CliConfig {
  return {
    ...config,
    currentContext: context.name,
    contexts: [...config.contexts.filter((c) => c.name !== context.name), context].sort((a, b) =>
      a.name.localeCompare(b.name),
    ),
  };
}

function mustFind(config: CliConfig, name: string): Context {
  const found = config.contexts.find((c) => c.name === name);
  if (found === undefined) {
    const names = config.contexts.map((c) => c.name);
    throw new FlotillaError(
      'NOT_FOUND',
      `there is no context called ${name}; ${names.length === 0 ? 'save one with flotilla login --hub URL --token-file FILE' : `the contexts are ${names.join(', ')}`}`,
    );
  }
  return found;
}

/**
 * Saves `context` in the config file at `path` (replacing one of the same name) and makes it
 * current; answers the name of the context that was current before, if another.
 */
export function saveContext(path: string, context: Context): string | undefined {
  const config = readCliConfig(path);
  writeCliConfig(path, withContext(config, context));
  return config.currentContext === context.name ? undefined : config.currentContext;
}

/** The config with `name` as the current context. */
export function usingContext(config: CliConfig, name: string): CliConfig {
  mustFind(config, name);
  return { ...config, currentContext: name };
}

/** The config without the context `name`; removing the current one leaves none current. */
export function withoutContext(config: CliConfig, name: string): CliConfig {
  mustFind(config, name);
  const { currentContext, ...rest } = config;
  return {
    ...rest,
    ...(currentContext === undefined || currentContext === name ? {} : { currentContext }),
    contexts: config.contexts.filter((c) => c.name !== name),
  };
}

/**
 * The context `name` names (from --context or FLOTILLA_CONTEXT), or else the current one;
 * undefined when neither is set. A name that is not in the file is an error naming the choices.
 */
export function selectContext(config: CliConfig, name: string | undefined): Context | undefined {
  if (name !== undefined) return mustFind(config, name);
  if (config.currentContext === undefined) return undefined;
  return config.contexts.find((c) => c.name === config.currentContext);
}
