import type { Command } from 'commander';
import { FlotillaError, Target } from '@flotilla/protocol';
import { AssignResult, FacetCounts, TargetPage } from '@flotilla/protocol/api';
import type { ApiClient } from '../api-client.ts';
import { targetHistoryCommand } from './audit.ts';
import { ago, outputFormat, print } from '../output.ts';
import { wholeNumber } from '../parse-args.ts';
import { watchOptions, watchTable } from '../watch-table.ts';

function releases(list: readonly { name: string; version: string }[]): string {
  return list.map((r) => `${r.name}@${r.version}`).join(',') || '-';
}

const TARGET_COLUMNS = ['ID', 'NAME', 'STATUS', 'GEN', 'APPLIED', 'HEALTH', 'SEEN', 'RUNNING'];

function targetRow(t: TargetPage['items'][number]): string[] {
  return [
    t.id,
    t.name,
    t.status,
    String(t.desired.generation),
    String(t.observed?.generation ?? '-'),
    t.observed?.health ?? '-',
    ago(t.lastSeenAt),
    releases(t.observed?.bundles ?? []),
  ];
}

export function targetsCommand(program: Command, client: () => ApiClient): void {
  const targets = program.command('targets').description('the fleet: every enrolled target as a record');
  targetHistoryCommand(targets, client);
  targets
    .command('ls')
    .description('list the targets a fleet query selects (docs/query-language.md)')
    .option('-q, --query <query>', "a fleet query, such as 'region in (eu-*), owner=atlas, running.app=4.2'")
    .option('--limit <n>', 'at most this many (1 to 1000)', wholeNumber('--limit', 1, 1000), 100)
    .option('--after <cursor>', 'continue a listing: the `next` of the previous page, with the same query')
    .option('-o, --output <format>', 'table, json or yaml')
    .option('-w, --watch', 'keep listing: redraw in place on a terminal, print each changed target when piped')
    .option('--interval <duration>', 'how often --watch asks the hub', '2s')
    .action(
      async (flags: {
        query?: string;
        limit: number;
        after?: string;
        output?: string;
        watch?: boolean;
        interval: string;
      }) => {
        const params = new URLSearchParams({
          limit: String(flags.limit),
          ...(flags.query === undefined ? {} : { q: flags.query }),
          ...(flags.after === undefined ? {} : { after: flags.after }),
        });
        const list = (): Promise<TargetPage> => client().call(TargetPage, 'GET', `/v1/targets?${params.toString()}`);
        const format = outputFormat(flags.output);
        if (flags.watch === true) {
          const options = watchOptions(flags, format, 'flotilla targets ls');
          return watchTable(async () => {
            const page = await list();
            return {
              header: TARGET_COLUMNS,
              rows: page.items.map((t) => {
                const cells = targetRow(t);
                // The age moves by itself; a change is anything else.
                return { key: t.id, cells, signature: [...cells.slice(0, 6), ...cells.slice(7)].join('\u0000') };
              }),
              notes: page.warnings ?? [],
            };
          }, options);
        }
        const page = await list();
        for (const warning of page.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
        print(format, page, () => [TARGET_COLUMNS, ...page.items.map(targetRow)]);
      },
    );
  targets
    .command('get <target>')
    .description('show one target, by id or name')
    .option('-o, --output <format>', 'table, json or yaml', 'yaml')
    .action(async (idOrName: string, flags: { output: string }) => {
      const api = client();
      const id = await api.targetId(idOrName);
      const target = await api.call(Target, 'GET', `/v1/targets/${encodeURIComponent(id)}`);
      print(outputFormat(flags.output), target, () => [
        ['ID', 'NAME', 'STATUS'],
        [target.id, target.name, target.status],
      ]);
    });
  targets
    .command('facets')
    .description('counts by status, health, region, tier, Kubernetes version and running release')
    .option('-q, --query <query>', 'count only the targets this fleet query selects')
    .option('-o, --output <format>', 'table, json or yaml', 'yaml')
    .action(async (flags: { query?: string; output: string }) => {
      const facets = await client().call(
        FacetCounts,
        'GET',
        `/v1/targets/facets${flags.query === undefined ? '' : `?q=${encodeURIComponent(flags.query)}`}`,
      );
      print(outputFormat(flags.output), facets, () => [
        ['FACET', 'COUNTS'],
        ...Object.entries(facets).map(([k, v]) => [k, JSON.stringify(v)]),
      ]);
    });
  targets
    .command('label <target> <changes...>')
    .description('set labels (key=value) and remove them (key-); the target by id or name')
    .action(async (idOrName: string, changes: string[]) => {
      const { set, remove } = parseChanges(changes, (v) => v);
      const api = client();
      const id = await api.targetId(idOrName);
      const target = await api.call(Target, 'PATCH', `/v1/targets/${encodeURIComponent(id)}/labels`, {
        set,
        remove,
      });
      process.stdout.write(
        `${target.id} labels: ${
          Object.entries(target.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || '(none)'
        }\n`,
      );
    });
  targets
    .command('set <target> <changes...>')
    .description(
      'set typed properties (key=value; true/false and numbers are typed, the rest are strings) and remove them (key-); the target by id or name',
    )
    .action(async (idOrName: string, changes: string[]) => {
      const { set, remove } = parseChanges(changes, typedValue);
      const api = client();
      const id = await api.targetId(idOrName);
      const target = await api.call(Target, 'PATCH', `/v1/targets/${encodeURIComponent(id)}/properties`, {
        set,
        remove,
      });
      process.stdout.write(
        `${target.id} properties: ${
          Object.entries(target.properties)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(', ') || '(none)'
        }\n`,
      );
    });
  for (const verb of ['revoke', 'disable', 'enable'] as const) {
    targets
      .command(`${verb} <target>`)
      .description(
        `${verb} a target, by id or name${verb === 'revoke' ? ' (final: its key is refused from the next request on)' : ''}`,
      )
      .option('--reason <text>', 'why, for the audit log')
      .action(async (idOrName: string, flags: { reason?: string }) => {
        const api = client();
        const id = await api.targetId(idOrName);
        const target = await api.call(
          Target,
          'POST',
          `/v1/targets/${encodeURIComponent(id)}/${verb}`,
          flags.reason === undefined ? {} : { reason: flags.reason },
        );
        process.stdout.write(`${target.id} (${target.name}) is ${target.status}\n`);
      });
  }
}

/** `key=value` sets, `key-` removes. */
function parseChanges<T>(
  changes: readonly string[],
  value: (text: string) => T,
): { set: Record<string, T>; remove: string[] } {
  const set: Record<string, T> = {};
  const remove: string[] = [];
  for (const change of changes) {
    const eq = change.indexOf('=');
    if (eq > 0) set[change.slice(0, eq)] = value(change.slice(eq + 1));
    else if (change.endsWith('-') && change.length > 1) remove.push(change.slice(0, -1));
    else throw new FlotillaError('CONFIG_INVALID', `expected key=value to set or key- to remove, received '${change}'`);
  }
  return { set, remove };
}

/**
 * true/false become booleans and numbers become numbers, but only when the number prints
 * back as written: `4.10` stays the string "4.10", as a version must.
 */
export function typedValue(text: string): string | number | boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  const number = Number(text);
  if (text.trim() !== '' && Number.isFinite(number) && String(number) === text) return number;
  return text;
}

export function assignCommand(program: Command, client: () => ApiClient): void {
  program
    .command('assign <target> <releases...>')
    .description('set the releases a target should run (name@version or digest); its generation goes up by one')
    .action(async (idOrName: string, refs: string[]) => {
      const api = client();
      const target = await api.targetId(idOrName);
      const result = await api.call(AssignResult, 'POST', `/v1/targets/${encodeURIComponent(target)}/assign`, {
        bundles: refs,
      });
      process.stdout.write(`${target} generation ${result.generation}: ${releases(result.bundles)}\n`);
    });
}
