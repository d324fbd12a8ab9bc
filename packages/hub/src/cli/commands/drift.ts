import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import {
  API_VERSION,
  Bundle,
  FlotillaError,
  signBundle,
  SignedBundle,
  Target,
  messageOf,
  type KeyPair,
  type ReleaseRef,
} from '@flotilla/protocol';
import { adoptDrift, driftPreviewValue, type AdoptDriftItem } from '@flotilla/protocol/drift';
import type { ApiClient } from '../api-client.ts';
import { outputFormat, print } from '../output.ts';
import {
  AssignResult,
  DriftList,
  DriftPolicyChange,
  DriftPolicyState,
  PublishResult,
  RevertResult,
  TargetDriftView,
  type DriftListItem,
} from '@flotilla/protocol/api';
import { readKeyFile } from '../../key-files.ts';
import { wholeNumber } from '../parse-args.ts';
import { watchOptions, watchTable } from '../watch-table.ts';

function actorText(item: DriftListItem): string {
  return item.actor.basis === 'none'
    ? 'unknown'
    : `${item.actor.manager}${item.actor.subresource === undefined ? '' : `/${item.actor.subresource}`}`;
}

function where(item: DriftListItem): string {
  return item.path === '' ? `${item.resourceKey} (${item.change})` : `${item.resourceKey} ${item.path}`;
}

function driftRows(items: readonly DriftListItem[], withTarget: boolean): string[][] {
  return [
    ['ITEM', ...(withTarget ? ['TARGET'] : []), 'CLASS', 'ACTION', 'ACTOR', 'RULE', 'HOLD', 'WHERE'],
    ...items.map((item) => [
      item.id,
      ...(withTarget ? [item.target] : []),
      item.class,
      item.action,
      actorText(item),
      item.ruleId,
      item.holdId ?? '-',
      where(item),
    ]),
  ];
}

/** What `drift adopt` published and assigned. */
export interface AdoptResult {
  readonly targetId: string;
  readonly releases: readonly { readonly ref: ReleaseRef; readonly from: string; readonly items: readonly string[] }[];
  readonly generation: number;
}

/**
 * Turns drift into desired state, on the author's machine: reads the target's current drift
 * items (with the values its agent observed) and the releases it runs, writes the observed
 * values into a copy of each release that holds an item, signs the copies with the author's
 * release keys, publishes them as new versions, and assigns them to the target. The hub
 * audits the publish and the assignment; release keys never leave this process.
 *
 * @param version the new version for each release touched; default `<version>+adopted.<UTC time>`.
 */
async function adoptDriftItems(
  client: ApiClient,
  targetId: string,
  itemIds: readonly string[],
  keys: readonly KeyPair[],
  options: { version?: string | undefined; now?: Date } = {},
): Promise<AdoptResult> {
  if (itemIds.length === 0)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      'name at least one drift item to adopt (the ids that flotilla drift ls shows)',
    );
  const view = await client.call(TargetDriftView, 'GET', `/v1/targets/${encodeURIComponent(targetId)}/drift`);
  const byId = new Map(view.items.map((item) => [item.id, item]));
  const missing = itemIds.filter((id) => !byId.has(id));
  if (missing.length > 0)
    throw new FlotillaError(
      'NOT_FOUND',
      `target ${targetId} has no current drift item ${missing.join(', ')}; list them with flotilla drift ls -q 'id=${targetId}'`,
    );
  const idOf = new Map<AdoptDriftItem, string>();
  let pending: AdoptDriftItem[] = [...new Set(itemIds)].map((id) => {
    const item = byId.get(id)!;
    const observed = driftPreviewValue(item.observed);
    const adoptable: AdoptDriftItem = {
      resourceKey: item.resourceKey,
      path: item.path,
      change: item.change,
      ...(observed === undefined ? {} : { observed: observed.value }),
    };
    idOf.set(adoptable, id);
    return adoptable;
  });
  const target = await client.call(Target, 'GET', `/v1/targets/${encodeURIComponent(targetId)}`);
  const stamp = (options.now ?? new Date()).toISOString().slice(0, 19).replace(/[-:T]/g, '');
  const replaced = new Map<string, { ref: ReleaseRef; from: string; items: string[] }>();
  for (const ref of target.desired.bundles) {
    if (pending.length === 0) break;
    const signed = await client.call(SignedBundle, 'GET', `/v1/bundles/${ref.digest}`);
    const { resources, adopted, unmatched } = adoptDrift(signed.bundle.resources, pending);
    pending = unmatched;
    if (adopted.length === 0) continue;
    const version = options.version ?? `${ref.version.split('+')[0]}+adopted.${stamp}`;
    const bundle = Bundle.parse({
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: ref.name,
      version,
      resources,
      provenance: {
        source: `drift adopted from ${targetId}`.slice(0, 512),
        builder: 'flotilla drift adopt',
        ...(signed.bundle.provenance?.commit === undefined ? {} : { commit: signed.bundle.provenance.commit }),
      },
      ...(signed.bundle.placement === undefined ? {} : { placement: signed.bundle.placement }),
    });
    const next = signBundle(bundle, keys);
    await client.call(PublishResult, 'POST', '/v1/bundles', next);
    const ids = adopted.map((item) => idOf.get(item) ?? '');
    replaced.set(ref.name, { ref: { name: ref.name, version, digest: next.digest }, from: ref.version, items: ids });
  }
  if (pending.length > 0) {
    throw new FlotillaError(
      'NOT_FOUND',
      `no release of target ${targetId} holds ${pending.map((item) => item.resourceKey).join(', ')}; nothing was assigned (releases already published stay unassigned)`,
    );
  }
  const refs = target.desired.bundles
    .map((ref) => replaced.get(ref.name)?.ref ?? ref)
    .map((ref) => `${ref.name}@${ref.version}`);
  const assigned = await client.call(AssignResult, 'POST', `/v1/targets/${encodeURIComponent(targetId)}/assign`, {
    bundles: refs,
  });
  return { targetId, releases: [...replaced.values()], generation: assigned.generation };
}

/**
 * `flotilla drift`: drift across the fleet, and what to do about it after an incident: adopt
 * it into a release, or revert it. Also the drift policy every envelope names.
 */
export function driftCommand(program: Command, client: () => ApiClient): void {
  const drift = program
    .command('drift')
    .description('drift: what differs from desired state, why, and what was done (docs/drift.md)');
  drift
    .command('ls')
    .description('current drift across the targets a fleet query selects, most severe first')
    .option('-q, --query <query>', "a fleet query, such as 'drift=dangerous, region in (eu-*)'")
    .option('--class <classes>', 'only these classes, comma-separated: acceptable, transient, suspicious, dangerous')
    .option('--intentional', 'only items held as intentional by an incident or annotation')
    .option('--limit <n>', 'at most this many items (1 to 10000)', wholeNumber('--limit', 1, 10_000), 500)
    .option('-o, --output <format>', 'table, json or yaml')
    .option('-w, --watch', 'keep listing: redraw in place on a terminal, print each changed item when piped')
    .option('--interval <duration>', 'how often --watch asks the hub', '2s')
    .action(
      async (flags: {
        query?: string;
        class?: string;
        intentional?: boolean;
        limit: number;
        output?: string;
        watch?: boolean;
        interval: string;
      }) => {
        const params = new URLSearchParams({
          limit: String(flags.limit),
          ...(flags.query === undefined ? {} : { q: flags.query }),
          ...(flags.class === undefined ? {} : { class: flags.class }),
          ...(flags.intentional === true ? { intentional: 'true' } : {}),
        });
        const list = (): Promise<DriftList> => client().call(DriftList, 'GET', `/v1/drift?${params.toString()}`);
        const format = outputFormat(flags.output);
        const shown = (answer: DriftList): string =>
          `${answer.items.length} of ${answer.total} items shown; raise --limit or narrow -q`;
        if (flags.watch === true) {
          const options = watchOptions(flags, format, 'flotilla drift ls');
          return watchTable(async () => {
            const answer = await list();
            const [header, ...rows] = driftRows(answer.items, true);
            return {
              header: header!,
              rows: rows.map((cells, i) => ({ key: `${answer.items[i]!.target} ${answer.items[i]!.id}`, cells })),
              notes: answer.total > answer.items.length ? [shown(answer)] : [],
            };
          }, options);
        }
        const answer = await list();
        print(format, answer, () => driftRows(answer.items, true));
        if (format === 'table' && answer.total > answer.items.length) process.stderr.write(`${shown(answer)}\n`);
      },
    );
  drift
    .command('show <target>')
    .description("one target's current drift, with desired and observed values")
    .option('-o, --output <format>', 'table, json or yaml', 'yaml')
    .action(async (target: string, flags: { output: string }) => {
      const api = client();
      const view = await api.call(
        TargetDriftView,
        'GET',
        `/v1/targets/${encodeURIComponent(await api.targetId(target))}/drift`,
      );
      print(outputFormat(flags.output), view, () => driftRows(view.items, false));
    });
  drift
    .command('adopt <target> <items...>')
    .description(
      'make drift desired: publish new versions of the releases holding these items, with the observed values, signed with your release key, and assign them to the target',
    )
    .requiredOption('--key <file...>', 'release key files to sign with (flotilla keys create --out FILE)')
    .option('--version <version>', 'the new version of each release touched (default: <version>+adopted.<UTC time>)')
    .action(async (target: string, items: string[], flags: { key: string[]; version?: string }) => {
      const api = client();
      const keys = flags.key.map(readKeyFile);
      const result = await adoptDriftItems(api, await api.targetId(target), items, keys, {
        version: flags.version,
      });
      for (const release of result.releases) {
        process.stdout.write(
          `adopted ${release.items.length} item(s) into ${release.ref.name}@${release.ref.version} (was ${release.from}) ${release.ref.digest}\n`,
        );
      }
      process.stdout.write(`${result.targetId} generation ${result.generation}\n`);
    });
  drift
    .command('revert <target> <items...>')
    .description(
      'have the agent put these drift items back to desired state, even where its policy or a hold kept them',
    )
    .action(async (target: string, items: string[]) => {
      const api = client();
      const id = await api.targetId(target);
      const result = await api.call(RevertResult, 'POST', `/v1/targets/${encodeURIComponent(id)}/drift/revert`, {
        items,
      });
      process.stdout.write(
        `${id} generation ${result.generation}: the agent reverts ${result.items.map((item) => item.id).join(', ')}\n`,
      );
    });

  const policy = drift.command('policy').description('the drift rules every envelope carries');
  policy
    .command('show')
    .description('the drift policy in force (the default one unless an admin set another)')
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .action(async (flags: { output: string }) => {
      const state = await client().call(DriftPolicyState, 'GET', '/v1/drift-policy');
      print(outputFormat(flags.output), state, () => [
        ['SOURCE', 'RULES', 'DIGEST'],
        [state.source, String(state.policy.rules.length), state.digest],
      ]);
    });
  policy
    .command('set <file>')
    .description(
      'replace the drift policy with the one in FILE (YAML or JSON; docs/drift.md); every target gets a new generation',
    )
    .action(async (file: string) => {
      let input: unknown;
      try {
        input = parseYaml(readFileSync(file, 'utf8'));
      } catch (error) {
        throw new FlotillaError(
          'CONFIG_INVALID',
          `cannot read the drift policy in ${file}: ${messageOf(error).split('\n')[0]}`,
        );
      }
      const result = await client().call(DriftPolicyChange, 'PUT', '/v1/drift-policy', input);
      process.stdout.write(
        `drift policy set (${result.state.policy.rules.length} rules, ${result.state.digest}); ${result.reissued} target(s) get it with a new generation\n`,
      );
    });
  policy
    .command('reset')
    .description('go back to the default drift policy')
    .action(async () => {
      const result = await client().call(DriftPolicyChange, 'DELETE', '/v1/drift-policy');
      process.stdout.write(
        `drift policy reset to the default; ${result.reissued} target(s) get it with a new generation\n`,
      );
    });
}
