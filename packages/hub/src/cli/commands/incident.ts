import type { Command } from 'commander';
import type { ApiClient } from '../api-client.ts';
import { outputFormat, print } from '../output.ts';
import { IncidentChange, IncidentList } from '@flotilla/protocol/api';

/**
 * `flotilla incident`: declare an incident for the targets a fleet query selects. While it is
 * open their agents revert nothing: drift is reported as intentional with the incident's id,
 * to be adopted into a release or reverted afterwards (`flotilla drift`).
 */
export function incidentCommand(program: Command, client: () => ApiClient): void {
  const incident = program
    .command('incident')
    .description('incidents: hold back every revert on the targets a selector picks (docs/drift.md)');
  incident
    .command('open <id>')
    .description(
      'open an incident: the targets the selector picks (now, and any that match later) keep whatever people change',
    )
    .requiredOption(
      '--selector <query>',
      "the targets, as a fleet query such as 'region=eu-west-1, tier=production' ('' for all)",
    )
    .requiredOption('--reason <text>', 'why, for the audit log and every agent report')
    .action(async (id: string, flags: { selector: string; reason: string }) => {
      const result = await client().call(IncidentChange, 'POST', '/v1/incidents', {
        id,
        selector: flags.selector,
        reason: flags.reason,
      });
      process.stdout.write(
        `incident ${result.incident.id} open for '${result.incident.selector}': ${result.targets.length} target(s) hold their drift\n`,
      );
    });
  incident
    .command('close <id>')
    .description(
      'close an incident: its targets revert by policy again; adopt or revert what changed meanwhile with flotilla drift',
    )
    .option('--reason <text>', 'why, for the audit log')
    .action(async (id: string, flags: { reason?: string }) => {
      const result = await client().call(
        IncidentChange,
        'POST',
        `/v1/incidents/${encodeURIComponent(id)}/close`,
        flags.reason === undefined ? {} : { reason: flags.reason },
      );
      process.stdout.write(`incident ${result.incident.id} closed: ${result.targets.length} target(s) released\n`);
    });
  incident
    .command('ls')
    .description('incidents, open ones by default')
    .option('--state <state>', 'open, closed or all', 'open')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { state: string; output?: string }) => {
      const { items } = await client().call(
        IncidentList,
        'GET',
        `/v1/incidents?state=${encodeURIComponent(flags.state)}`,
      );
      print(outputFormat(flags.output), { items }, () => [
        ['ID', 'STATE', 'SELECTOR', 'OPENED', 'BY', 'REASON'],
        ...items.map((i) => [
          i.id,
          i.state,
          i.selector === '' ? '(all)' : i.selector,
          i.openedAt,
          i.openedBy.id,
          i.reason,
        ]),
      ]);
    });
}
