import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { FlotillaError, messageOf } from '@flotilla/protocol';
import { PolicyChangeResult, PolicyList, PolicyView } from '@flotilla/protocol/api';
import { formatPolicyDiff } from '@flotilla/protocol/policy';
import type { ApiClient } from '../api-client.ts';
import { wholeNumber } from '../parse-args.ts';
import { outputFormat, print } from '../output.ts';

function readDocument(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new FlotillaError('BAD_REQUEST', `cannot read the policy file ${file}: ${messageOf(error)}`);
  }
}

function version(value: number | null): string {
  return value === null ? 'none' : `v${value}`;
}

function printChange(result: PolicyChangeResult, format: string | undefined, verb: string): void {
  if (outputFormat(format) !== 'table') {
    print(outputFormat(format), result, () => []);
    return;
  }
  process.stdout.write(
    result.changed
      ? `policy ${result.name} ${verb} (${version(result.from)} -> ${version(result.to)})\n`
      : `policy ${result.name} unchanged (${version(result.from)})\n`,
  );
  const text = formatPolicyDiff(result.changes);
  if (text !== '') process.stdout.write(`${text}\n`);
}

/**
 * `flotilla policy`: compliance policies (docs/policy.md), each a document scoped by a fleet
 * query. `apply` validates the whole document on the hub and stores it as a new version;
 * `diff` shows what applying a file would change, or what changed between two versions.
 */
export function policyCommand(program: Command, client: () => ApiClient): void {
  const policy = program
    .command('policy')
    .description('compliance policies: placement, artifacts, approvals and windows, per scope (docs/policy.md)');
  policy
    .command('ls')
    .description('the live policies')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const list = await client().call(PolicyList, 'GET', '/v1/policies');
      print(outputFormat(flags.output), list, () => [
        ['NAME', 'VERSION', 'SCOPE', 'RULES', 'CHANGED', 'BY'],
        ...list.items.map((item) => [
          item.name,
          String(item.version),
          item.scope === '' ? '(all)' : item.scope,
          item.sections.join(','),
          item.changedAt,
          item.changedBy.id,
        ]),
      ]);
    });
  policy
    .command('show <name>')
    .description('one policy as stored (YAML by default), the live version unless --version is given')
    .option('--version <n>', 'a stored version', wholeNumber('--version', 1, 1_000_000))
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .action(async (name: string, flags: { version?: number; output: string }) => {
      const view = await client().call(
        PolicyView,
        'GET',
        `/v1/policies/${encodeURIComponent(name)}${flags.version === undefined ? '' : `?version=${flags.version}`}`,
      );
      const format = outputFormat(flags.output);
      if (format === 'json') process.stdout.write(`${JSON.stringify(view.document, null, 2)}\n`);
      else process.stdout.write(stringify(view.document));
      if (view.info.deleted) process.stderr.write(`(version ${view.info.version} deleted this policy)\n`);
    });
  policy
    .command('apply <file>')
    .description('validate a policy file (YAML or JSON, - for stdin) whole and store it as the next version')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (file: string, flags: { output?: string }) => {
      const result = await client().call(PolicyChangeResult, 'POST', '/v1/policies', {
        document: readDocument(file),
      });
      printChange(result, flags.output, 'applied');
    });
  policy
    .command('delete <name>')
    .description('remove a policy; its versions stay in the history')
    .action(async (name: string) => {
      const result = await client().call(PolicyChangeResult, 'DELETE', `/v1/policies/${encodeURIComponent(name)}`);
      process.stdout.write(`policy ${result.name} deleted (${version(result.from)} -> ${version(result.to)})\n`);
    });
  policy
    .command('diff <file-or-name>')
    .description('what applying a file would change; with --from, what changed between two stored versions of a policy')
    .option('--from <n>', 'a stored version of the named policy', wholeNumber('--from', 1, 1_000_000))
    .option('--to <n>', 'a later stored version (default: the latest)', wholeNumber('--to', 1, 1_000_000))
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (subject: string, flags: { from?: number; to?: number; output?: string }) => {
      const result =
        flags.from === undefined
          ? await client().call(PolicyChangeResult, 'POST', '/v1/policies/diff', { document: readDocument(subject) })
          : await client().call(
              PolicyChangeResult,
              'GET',
              `/v1/policies/${encodeURIComponent(subject)}/diff?from=${flags.from}${flags.to === undefined ? '' : `&to=${flags.to}`}`,
            );
      if (outputFormat(flags.output) !== 'table') {
        print(outputFormat(flags.output), result, () => []);
        return;
      }
      const text = formatPolicyDiff(result.changes);
      process.stdout.write(text === '' ? `no difference (policy ${result.name})\n` : `${text}\n`);
    });
}
