import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { parse as parseYaml } from 'yaml';
import { API_VERSION, FlotillaError, messageOf } from '@flotilla/protocol';
import { signApproval } from '@flotilla/protocol/policy';
import { readKeyFile } from '../../key-files.ts';
import type { ApiClient } from '../api-client.ts';
import { outputFormat, print, renderTable } from '../output.ts';
import { parseDuration, wholeNumber } from '../parse-args.ts';
import { watchOptions, watchTable } from '../watch-table.ts';
import {
  ApprovalList,
  CreateRolloutResult,
  PolicyPlan,
  RolloutList,
  RolloutView,
  type MemberView,
  type WaveView,
} from '@flotilla/protocol/api';

const TERMINAL = new Set(['completed', 'aborted', 'rolled-back']);
const PROBLEMS_SHOWN = 10;

interface CreateFlags {
  release?: string;
  selector?: string;
  waves?: string;
  plan?: string;
  bake?: string;
  failureBudget?: string;
  timeout?: string;
  rollbackOnFailure?: boolean;
  dryRun?: boolean;
  place?: string;
  output?: string;
}

/** The policy decision of every selected target, one row per reason (docs/policy.md). */
/** Writes `text` to `file` whole or not at all: a half-written approval would not verify. */
function writeFileAtomically(file: string, text: string): void {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

export function renderPolicyPlan(plan: PolicyPlan): string {
  const rows: string[][] = [['TARGET', 'DECISION', 'POLICY', 'RULE', 'WHY']];
  for (const target of plan.targets) {
    const placement = target.placement === undefined ? [] : [['', '', '', 'placement', target.placement]];
    if (target.included) {
      rows.push([target.name, 'included', target.policies.join(',') || '-', '-', '-'], ...placement);
      continue;
    }
    target.reasons.forEach((reason, i) => {
      const why = reason.nextOpening === undefined ? reason.message : `${reason.message} (opens ${reason.nextOpening})`;
      rows.push([i === 0 ? target.name : '', i === 0 ? 'blocked' : '', reason.policy ?? '-', reason.rule, why]);
    });
    rows.push(...placement);
  }
  const { selected, included, blocked } = plan.totals;
  return `${renderTable(rows)}${selected} selected: ${included} included, ${blocked} blocked${plan.truncated ? ` (${plan.targets.length} listed)` : ''}; policies ${plan.policies.join(', ') || '(none)'}\n`;
}

async function policyPlan(client: ApiClient, body: Record<string, unknown>): Promise<PolicyPlan> {
  return client.call(PolicyPlan, 'POST', '/v1/rollouts/plan', body);
}

const ROLLOUT_COLUMNS = ['ID', 'RELEASE', 'STATE', 'WAVE', 'MEMBERS', 'CREATED', 'SELECTOR'];

function rolloutRow(r: RolloutList['items'][number]): string[] {
  return [
    r.id,
    `${r.release.name}@${r.release.version}`,
    r.state,
    r.currentWave === null ? '-' : `${r.currentWave.index + 1}/${r.waves} ${r.currentWave.name}`,
    String(r.members),
    r.createdAt,
    r.selector || '(every target)',
  ];
}

/**
 * `flotilla rollout`: create a rollout of a release over a selector in waves, follow it,
 * and steer it (pause, resume, abort, roll back). See docs/rollouts.md.
 */
export function rolloutCommand(program: Command, client: () => ApiClient): void {
  const rollout = program
    .command('rollout')
    .description('roll a release out to the targets a selector picks, in waves with gates (docs/rollouts.md)');
  rollout
    .command('create')
    .description('start a rollout: --release and --selector, waves inline or from a plan file')
    .option('--release <ref>', 'the release, as name@version or a digest')
    .option('--selector <query>', "the targets, as a fleet query such as 'tier=production, region in (eu-*)'")
    .option(
      '--waves <waves>',
      "waves, cumulative: 'canary:1%,early:10%,rest:100%' or 'staging:tier=staging,rest:100%' (default: one wave of 100%)",
    )
    .option(
      '--plan <file>',
      'a plan in YAML: waves, bake, failureBudget, timeout, rollbackOnFailure (and release, selector)',
    )
    .option('--bake <duration>', 'how long each wave must stay healthy before the next starts, such as 10m (default 0)')
    .option(
      '--failure-budget <n|p%>',
      'failed targets a wave tolerates before the rollout pauses: a count (2) or a share of the wave (5%) (default 0)',
    )
    .option(
      '--timeout <duration>',
      'how long a wave may take to become healthy before the rollout pauses, such as 30m (default: no limit)',
    )
    .option('--rollback-on-failure', 'roll back instead of pausing when a wave fails its gates')
    .option(
      '--place <requirements>',
      "pick the targets from requirements instead of --selector: 'class=payments, capability=pci-dss, per-region=2'",
    )
    .option('--dry-run', "show the waves and every target's policy decision as they would be now, and create nothing")
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: CreateFlags) => {
      let placed: PolicyPlan | undefined;
      if (flags.place !== undefined) {
        if (flags.selector !== undefined)
          throw new FlotillaError('CONFIG_INVALID', 'give --selector or --place, not both');
        if (flags.release === undefined)
          throw new FlotillaError('CONFIG_INVALID', 'name the release with --release name@version');
        placed = await policyPlan(client(), { release: flags.release, place: flags.place, limit: 100_000 });
        if (placed.selector === 'id in ()' || !placed.targets.some((t) => t.placement?.startsWith('chosen')))
          throw new FlotillaError(
            'VALIDATION_FAILED',
            `no target meets '${flags.place}'; flotilla rollout plan --release ${flags.release} --place '${flags.place}' explains each target`,
          );
      }
      const body = createBody(placed === undefined ? flags : { ...flags, selector: placed.selector });
      const result = await client().call(CreateRolloutResult, 'POST', '/v1/rollouts', body);
      for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
      const decisions =
        result.dryRun && placed === undefined
          ? await policyPlan(client(), { release: body['release'], selector: body['selector'], limit: 100_000 })
          : placed;
      const format = outputFormat(flags.output);
      if (format !== 'table')
        return print(format, decisions === undefined ? result : { ...result, policy: decisions }, () => []);
      if (decisions !== undefined) process.stdout.write(renderPolicyPlan(decisions));
      process.stdout.write(
        result.dryRun
          ? `dry run: nothing was created; the waves as they would be now:\n`
          : `created rollout ${result.rollout.id}\n`,
      );
      process.stdout.write(renderStatus(result.rollout, [], result.dryRun));
      if (!result.dryRun)
        process.stdout.write(`follow it with: flotilla rollout status ${result.rollout.id} --watch\n`);
    });
  rollout
    .command('approve <id>')
    .description(
      'approve a rollout: signed here with your own approver key, checked by the hub and again by each agent',
    )
    .requiredOption(
      '--key <file>',
      'your approver key pair (flotilla keys create; registered with keys register-approver)',
    )
    .requiredOption('--as <identity>', 'who you are, as your key is registered, such as alice@acme.example')
    .option(
      '--override-window',
      "let the change through closed change windows (an emergency; the policy's emergencyOverride says how many)",
    )
    .option(
      '--out <file>',
      'write the signed approval to this file instead of sending it (to upload on the rollout page of the dashboard)',
    )
    .action(async (id: string, flags: { key: string; as: string; overrideWindow?: boolean; out?: string }) => {
      const key = readKeyFile(flags.key);
      const view = await client().call(RolloutView, 'GET', `/v1/rollouts/${encodeURIComponent(id)}?members=none`);
      const signed = signApproval(
        {
          apiVersion: API_VERSION,
          kind: 'Approval',
          action: flags.overrideWindow === true ? 'override-window' : 'approve',
          rolloutId: view.id,
          releaseDigest: view.release.digest,
          approver: flags.as,
          approvedAt: new Date().toISOString(),
        },
        key,
      );
      if (flags.out !== undefined) {
        writeFileAtomically(flags.out, `${JSON.stringify(signed, null, 2)}\n`);
        process.stdout.write(
          `${signed.approval.action} of rollout ${view.id} (${view.release.name}@${view.release.version}) by ${flags.as} signed into ${flags.out}; nothing sent\n`,
        );
        return;
      }
      const list = await client().call(ApprovalList, 'POST', `/v1/rollouts/${encodeURIComponent(id)}/approvals`, {
        approval: signed,
      });
      const counted = list.items.filter((item) => item.valid && item.action === signed.approval.action).length;
      process.stdout.write(
        `${signed.approval.action} of rollout ${view.id} (${view.release.name}@${view.release.version}) by ${flags.as} recorded; ${counted} in all\n`,
      );
    });
  rollout
    .command('plan')
    .description(
      'explain before anything runs: for each selected target, included or blocked with every reason and the policy that said so',
    )
    .requiredOption('--release <ref>', 'the release, as name@version or a digest')
    .option('--selector <query>', "the targets, as a fleet query ('' for all)")
    .option(
      '--place <requirements>',
      "or pick them from requirements: 'class=payments, capability=pci-dss, per-region=2'",
    )
    .option(
      '--limit <n>',
      'list at most this many targets (the totals count all)',
      wholeNumber('--limit', 0, 100_000),
      1000,
    )
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { release: string; selector?: string; place?: string; limit: number; output?: string }) => {
      if ((flags.selector === undefined) === (flags.place === undefined))
        throw new FlotillaError('CONFIG_INVALID', "give exactly one of --selector (such as --selector '') and --place");
      const plan = await policyPlan(client(), {
        release: flags.release,
        ...(flags.selector === undefined ? {} : { selector: flags.selector }),
        ...(flags.place === undefined ? {} : { place: flags.place }),
        limit: flags.limit,
      });
      const format = outputFormat(flags.output);
      if (format !== 'table') return print(format, plan, () => []);
      process.stdout.write(renderPolicyPlan(plan));
    });
  rollout
    .command('ls')
    .description('list rollouts, newest first')
    .option('--state <state>', 'only running, paused, completed, aborted or rolled-back ones')
    .option('--limit <n>', 'at most this many (1 to 500)', wholeNumber('--limit', 1, 500), 50)
    .option('-o, --output <format>', 'table, json or yaml')
    .option('-w, --watch', 'keep listing: redraw in place on a terminal, print each changed rollout when piped')
    .option('--interval <duration>', 'how often --watch asks the hub', '2s')
    .action(async (flags: { state?: string; limit: number; output?: string; watch?: boolean; interval: string }) => {
      const params = new URLSearchParams({
        limit: String(flags.limit),
        ...(flags.state === undefined ? {} : { state: flags.state }),
      });
      const list = (): Promise<RolloutList> => client().call(RolloutList, 'GET', `/v1/rollouts?${params.toString()}`);
      const format = outputFormat(flags.output);
      if (flags.watch === true) {
        const options = watchOptions(flags, format, 'flotilla rollout ls');
        return watchTable(async () => {
          const page = await list();
          return { header: ROLLOUT_COLUMNS, rows: page.items.map((r) => ({ key: r.id, cells: rolloutRow(r) })) };
        }, options);
      }
      const page = await list();
      print(format, page, () => [ROLLOUT_COLUMNS, ...page.items.map(rolloutRow)]);
    });
  rollout
    .command('status <id>')
    .description("a rollout's waves with progress, counts and problems; --watch follows it until it finishes")
    .option('-w, --watch', 'keep following: live progress bars on a terminal, plain lines otherwise')
    .option('--interval <duration>', 'how often --watch asks the hub', '2s')
    .option('-o, --output <format>', 'table, json or yaml (json and yaml include every member)')
    .action(async (id: string, flags: { watch?: boolean; interval: string; output?: string }) => {
      const format = outputFormat(flags.output);
      const path = `/v1/rollouts/${encodeURIComponent(id)}`;
      if (format !== 'table') {
        const view = await client().call(RolloutView, 'GET', `${path}?members=all&limit=100000`);
        return print(format, view, () => []);
      }
      const fetch = (): Promise<RolloutView> =>
        client().call(RolloutView, 'GET', `${path}?members=problems&limit=${PROBLEMS_SHOWN}`);
      if (flags.watch !== true) {
        const view = await fetch();
        process.stdout.write(renderStatus(view, view.members ?? []));
        return;
      }
      const everyMs = parseDuration(flags.interval, '--interval');
      if (process.stdout.isTTY === true) await watchWithBars(fetch, everyMs);
      else await watchPlain(fetch, everyMs);
    });
  for (const [verb, description] of [
    ['pause', 'stop making changes: no wave starts, no target joins, until resumed'],
    ['resume', "continue a paused rollout; the current wave's timeout and bake start over"],
    ['abort', 'stop the rollout for good; updated targets keep the release (roll back to undo)'],
    ['rollback', 'return every updated target to the release it had before (or remove it where it had none)'],
  ] as const) {
    rollout
      .command(`${verb} <id>`)
      .description(description)
      .option('--reason <text>', 'why, for the audit log')
      .action(async (id: string, flags: { reason?: string }) => {
        const view = await client().call(
          RolloutView,
          'POST',
          `/v1/rollouts/${encodeURIComponent(id)}/${verb}`,
          flags.reason === undefined ? {} : { reason: flags.reason },
        );
        process.stdout.write(
          `rollout ${view.id} (${view.release.name}@${view.release.version}) is ${view.state}${view.reason === null ? '' : `: ${view.reason}`}\n`,
        );
      });
  }
}

/** The request body: the plan file's fields, overridden by flags. */
function createBody(flags: CreateFlags): Record<string, unknown> {
  const plan = flags.plan === undefined ? {} : readPlan(flags.plan);
  const body: Record<string, unknown> = { ...plan };
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) body[key] = value;
  };
  set('release', flags.release);
  set('selector', flags.selector);
  set('waves', flags.waves);
  set('bake', flags.bake);
  set('failureBudget', flags.failureBudget);
  set('timeout', flags.timeout);
  if (flags.rollbackOnFailure === true) body['rollbackOnFailure'] = true;
  if (flags.dryRun === true) body['dryRun'] = true;
  if (body['release'] === undefined)
    throw new FlotillaError(
      'CONFIG_INVALID',
      'name the release with --release name@version (or release: in the plan file)',
    );
  if (body['selector'] === undefined)
    throw new FlotillaError(
      'CONFIG_INVALID',
      "name the targets with --selector, such as --selector 'tier=production' (or selector: in the plan file; '' selects every target)",
    );
  return body;
}

/**
 * Reads a plan file. YAML's failsafe schema keeps every scalar as written (a selector value
 * `4.10` stays the text 4.10); the hub reads percentages, durations and budgets from text.
 */
function readPlan(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FlotillaError('CONFIG_INVALID', `cannot read the plan ${file}: ${messageOf(error)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch (error) {
    throw new FlotillaError('CONFIG_INVALID', `the plan ${file} is not valid YAML: ${messageOf(error).split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new FlotillaError(
      'CONFIG_INVALID',
      `the plan ${file} must be a mapping with waves:, bake:, failureBudget:, timeout: and rollbackOnFailure:`,
    );
  const plan = { ...(doc as Record<string, unknown>) };
  const rollback = plan['rollbackOnFailure'];
  if (typeof rollback === 'string') {
    if (rollback !== 'true' && rollback !== 'false')
      throw new FlotillaError(
        'CONFIG_INVALID',
        `rollbackOnFailure in ${file} is true or false; received '${rollback}'`,
      );
    plan['rollbackOnFailure'] = rollback === 'true';
  }
  return plan;
}

function countsText(wave: WaveView): string {
  const c = wave.counts;
  const planned = c.planned > 0 ? `  planned ${c.planned}` : '';
  const rolledBack = c.reverted + c.reverting > 0 ? `  reverted ${c.reverted}  reverting ${c.reverting}` : '';
  return `applied ${c.applied}  healthy ${c.healthy}  failed ${c.failed}  pending ${c.pending}  blocked ${c.blocked}${planned}${rolledBack}`;
}

/** What a wave's bar and fraction show: healthy members, or after a rollback, reverted ones. */
function progress(view: RolloutView, wave: WaveView): { label: string; value: number } {
  return view.state === 'rolled-back'
    ? { label: 'reverted ', value: wave.counts.reverted }
    : { label: '', value: wave.counts.healthy };
}

function headline(view: RolloutView, dryRun = false): string {
  const wave =
    view.currentWave === null
      ? 'not started'
      : `wave ${view.currentWave.index + 1}/${view.waves.length} ${view.currentWave.name}`;
  const head = dryRun
    ? `rollout (dry run)  ${view.release.name}@${view.release.version}`
    : `rollout ${view.id}  ${view.release.name}@${view.release.version}  ${view.state}  ${wave}`;
  return `${head}  selector ${view.selector || '(every target)'}  selected ${view.selected}`;
}

/** The status as plain text: a headline, a table of waves, and the first problems. */
function renderStatus(view: RolloutView, problems: readonly MemberView[], dryRun = false): string {
  const lines = [headline(view, dryRun)];
  if (view.reason !== null) lines.push(`reason: ${view.reason}`);
  lines.push(
    `gates: bake ${view.plan.bake}, failure budget ${view.plan.failureBudget}, timeout ${view.plan.timeout ?? 'none'}${view.plan.rollbackOnFailure ? ', roll back on failure' : ''}`,
  );
  if (view.totals.reverting + view.totals.reverted > 0)
    lines.push(`rolled back: ${view.totals.reverted} reverted, ${view.totals.reverting} still reverting`);
  const table = renderTable([
    [
      'WAVE',
      'SPEC',
      'STATE',
      view.state === 'rolled-back' ? 'REVERTED' : 'HEALTHY',
      'APPLIED',
      'FAILED',
      'PENDING',
      'BLOCKED',
      'PLANNED',
    ],
    ...view.waves.map((w) => [
      w.name,
      w.spec,
      w.state,
      `${progress(view, w).value}/${w.counts.total}`,
      String(w.counts.applied),
      String(w.counts.failed),
      String(w.counts.pending),
      String(w.counts.blocked),
      String(w.counts.planned),
    ]),
  ]);
  const shown = problems.filter((m) => m.state === 'failed' || m.state === 'blocked');
  const problemLines = shown.map(
    (m) => `  ${m.state} ${m.targetId} (${m.name}) in ${m.wave}${m.reason === undefined ? '' : `: ${m.reason}`}`,
  );
  return `${lines.join('\n')}\n${table}${problemLines.length > 0 ? `problems:\n${problemLines.join('\n')}\n` : ''}`;
}

/** Plain lines for logs and pipes: one per wave whenever its counts or state change. */
async function watchPlain(fetch: () => Promise<RolloutView>, everyMs: number): Promise<void> {
  const last = new Map<string, string>();
  let head = '';
  for (;;) {
    const view = await fetch();
    const now = headline(view) + (view.reason === null ? '' : `  reason: ${view.reason}`);
    if (now !== head) process.stdout.write(`${now}\n`);
    head = now;
    for (const wave of view.waves) {
      const { label, value } = progress(view, wave);
      const line = `${wave.name} ${wave.state} ${label}${value}/${wave.counts.total} ${countsText(wave)}`;
      if (last.get(wave.name) !== line) process.stdout.write(`${new Date().toISOString()} ${line}\n`);
      last.set(wave.name, line);
    }
    if (TERMINAL.has(view.state)) return;
    await sleep(everyMs);
  }
}

/** Counts for a bar: applied and healthy, and the others only when there are any, so a line fits a terminal. */
function shortCounts(wave: WaveView): string {
  const c = wave.counts;
  const parts = [`applied ${c.applied}`, `healthy ${c.healthy}`];
  for (const [label, n] of [
    ['failed', c.failed],
    ['pending', c.pending],
    ['blocked', c.blocked],
    ['planned', c.planned],
    ['reverted', c.reverted],
    ['reverting', c.reverting],
  ] as const) {
    if (n > 0) parts.push(`${label} ${n}`);
  }
  return parts.join(' ');
}

/** Live progress bars, one per wave (healthy of total), with the counts beside them. */
async function watchWithBars(fetch: () => Promise<RolloutView>, everyMs: number): Promise<void> {
  let view = await fetch();
  const columns = process.stdout.columns ?? 100;
  const multibar = new cliProgress.MultiBar(
    {
      format: ' {wave} |{bar}| {value}/{total} {state} {counts}',
      barsize: Math.max(10, Math.min(40, columns - 75)),
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const width = Math.max(...view.waves.map((w) => w.name.length));
  const header = multibar.create(1, 0, { text: headline(view) }, { format: '{text}' });
  const bars = view.waves.map((w) =>
    multibar.create(Math.max(1, w.counts.total), progress(view, w).value, {
      wave: w.name.padEnd(width),
      state: w.state.padEnd(11),
      counts: shortCounts(w),
    }),
  );
  try {
    for (;;) {
      header.update(0, { text: headline(view) + (view.reason === null ? '' : `  (${view.reason})`) });
      view.waves.forEach((w, i) => {
        const bar = bars[i]!;
        bar.setTotal(Math.max(1, w.counts.total));
        bar.update(progress(view, w).value, {
          wave: w.name.padEnd(width),
          state: w.state.padEnd(11),
          counts: shortCounts(w),
        });
      });
      if (TERMINAL.has(view.state)) break;
      await sleep(everyMs);
      view = await fetch();
    }
  } finally {
    multibar.stop();
  }
  const problems = (view.members ?? []).filter((m) => m.state === 'failed' || m.state === 'blocked');
  for (const m of problems)
    process.stdout.write(
      `  ${m.state} ${m.targetId} (${m.name}) in ${m.wave}${m.reason === undefined ? '' : `: ${m.reason}`}\n`,
    );
}
