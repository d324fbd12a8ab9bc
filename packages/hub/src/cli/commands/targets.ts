import type { Command } from 'commander';
import type { Target } from '@flotilla/protocol';
import type { ApiClient } from '../api-client.ts';
import { ago, outputFormat, print } from '../output.ts';

function releases(list: readonly { name: string; version: string }[]): string {
  return list.map((r) => `${r.name}@${r.version}`).join(',') || '-';
}

export function targetsCommand(program: Command, client: () => ApiClient): void {
  const targets = program.command('targets').description('the fleet: every enrolled target as a record');
  targets
    .command('ls')
    .description('list targets')
    .option('--limit <n>', 'at most this many', '100')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { limit: string; output?: string }) => {
      const page = await client().call<{ items: Target[]; total: number }>('GET', `/v1/targets?limit=${encodeURIComponent(flags.limit)}`);
      print(outputFormat(flags.output), page, () => [
        ['ID', 'NAME', 'STATUS', 'GEN', 'APPLIED', 'HEALTH', 'SEEN', 'RUNNING'],
        ...page.items.map((t) => [t.id, t.name, t.status, String(t.desired.generation), String(t.observed?.generation ?? '-'), t.observed?.health ?? '-', ago(t.lastSeenAt), releases(t.observed?.bundles ?? [])]),
      ]);
    });
  targets
    .command('get <id>')
    .description('show one target')
    .option('-o, --output <format>', 'table, json or yaml', 'yaml')
    .action(async (id: string, flags: { output: string }) => {
      const target = await client().call<Target>('GET', `/v1/targets/${encodeURIComponent(id)}`);
      print(outputFormat(flags.output), target, () => [['ID', 'NAME', 'STATUS'], [target.id, target.name, target.status]]);
    });
  for (const verb of ['revoke', 'disable', 'enable'] as const) {
    targets
      .command(`${verb} <id>`)
      .description(`${verb} a target${verb === 'revoke' ? ' (final: its key is refused from the next request on)' : ''}`)
      .option('--reason <text>', 'why, for the audit log')
      .action(async (id: string, flags: { reason?: string }) => {
        const target = await client().call<Target>('POST', `/v1/targets/${encodeURIComponent(id)}/${verb}`, flags.reason === undefined ? {} : { reason: flags.reason });
        process.stdout.write(`${target.id} (${target.name}) is ${target.status}\n`);
      });
  }
}

export function assignCommand(program: Command, client: () => ApiClient): void {
  program
    .command('assign <target> <releases...>')
    .description('set the releases a target should run (name@version or digest); its generation goes up by one')
    .action(async (target: string, refs: string[]) => {
      const result = await client().call<{ generation: number; bundles: { name: string; version: string }[] }>('POST', `/v1/targets/${encodeURIComponent(target)}/assign`, { bundles: refs });
      process.stdout.write(`${target} generation ${result.generation}: ${releases(result.bundles)}\n`);
    });
}
