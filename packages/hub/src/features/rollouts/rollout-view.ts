import type {
  MemberListing,
  MemberState,
  MemberView,
  RolloutSummary,
  RolloutView,
  WaveCounts,
  WaveState,
  WaveView,
} from '@flotilla/protocol/api';
import { blockReason, inForce, type RolloutEvaluation, type RolloutPolicy } from './rollout-evaluation.ts';
import { allowedFailures, formatDuration, formatFailureBudget, waveGates, waveSpecText } from './rollout-plan.ts';
import type { RolloutRow, RolloutStore } from './rollout-store.ts';

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();
const PROBLEMS: ReadonlySet<MemberState> = new Set(['failed', 'blocked', 'pending', 'applied', 'reverting']);

export function summarize(row: RolloutRow, waveNames: readonly string[], members: number): RolloutSummary {
  return {
    id: row.id,
    release: { name: row.release_name, version: row.release_version, digest: row.release_digest },
    selector: row.selector,
    state: row.state,
    reason: row.state_reason,
    currentWave: row.current_wave < 0 ? null : { index: row.current_wave, name: waveNames[row.current_wave] ?? '' },
    waves: waveNames.length,
    members,
    createdAt: iso(row.created_at)!,
    createdBy: row.created_by,
    updatedAt: iso(row.updated_at)!,
    finishedAt: iso(row.finished_at),
  };
}

/**
 * The status of a rollout: each wave with its gates, clocks and counts, totals, and the
 * members' states (recorded members, then targets blocked or waiting to join, then targets
 * planned for waves to come), sorted by wave and name.
 */
export function buildView(
  rollouts: RolloutStore,
  evaluation: RolloutEvaluation,
  listing: MemberListing,
  limit: number,
  policy?: RolloutPolicy,
): RolloutView {
  const { row, plan } = evaluation.rollout;
  const current = row.current_wave;
  const active = row.state === 'running' || row.state === 'paused';
  const counts: WaveCounts[] = plan.waves.map(() => ({
    total: 0,
    applied: 0,
    healthy: 0,
    failed: 0,
    pending: 0,
    blocked: 0,
    planned: 0,
    reverted: 0,
    reverting: 0,
  }));
  const list: MemberView[] = [];
  const add = (view: MemberView): void => {
    if (listing === 'all' || (listing === 'problems' && PROBLEMS.has(view.state))) list.push(view);
  };
  for (const m of evaluation.members) {
    const c = counts[m.wave]!;
    c.total++;
    if (m.applied) c.applied++;
    switch (m.state) {
      case 'healthy':
        c.healthy++;
        break;
      case 'failed':
        c.failed++;
        break;
      case 'blocked':
        c.blocked++;
        break;
      case 'reverting':
        c.reverting++;
        break;
      case 'reverted':
        c.reverted++;
        break;
      case 'pending':
      case 'applied':
        c.pending++;
        break;
      case 'planned':
        c.planned++;
        break;
    }
    add({
      targetId: m.targetId,
      name: m.name,
      wave: plan.waves[m.wave]!.name,
      waveIndex: m.wave,
      state: m.state,
      // A member still waiting for its envelope has no generation yet (the store keeps 0 until issued).
      ...(m.issued ? { generation: m.generation } : {}),
      ...(m.reason === undefined ? {} : { reason: m.reason }),
    });
  }
  // Who else holds the release, read once: a wave still being recorded has thousands of candidates.
  let holders: Map<string, string> | undefined;
  const governing = inForce(policy);
  for (const candidate of evaluation.candidates) {
    const c = counts[candidate.wave]!;
    c.total++;
    const wave = plan.waves[candidate.wave]!.name;
    if (!active || candidate.wave > current) {
      c.planned++;
      add({ targetId: candidate.targetId, name: candidate.name, wave, waveIndex: candidate.wave, state: 'planned' });
      continue;
    }
    holders ??= rollouts.holders(evaluation.rollout.release.name, evaluation.rollout.row.id);
    const reason = blockReason(rollouts, evaluation.rollout, candidate, governing, holders);
    if (reason !== undefined) {
      c.blocked++;
      add({
        targetId: candidate.targetId,
        name: candidate.name,
        wave,
        waveIndex: candidate.wave,
        state: 'blocked',
        reason,
      });
    } else {
      // In a wave under way but not updated yet: it joins on the next step, or on resume.
      c.pending++;
      add({
        targetId: candidate.targetId,
        name: candidate.name,
        wave,
        waveIndex: candidate.wave,
        state: 'pending',
        reason: row.state === 'paused' ? 'joins when the rollout resumes' : 'joining',
      });
    }
  }
  list.sort((a, b) => a.waveIndex - b.waveIndex || a.name.localeCompare(b.name));
  const waves = plan.waves.map((wave, index): WaveView => {
    const record = evaluation.waves[index];
    const gates = waveGates(plan, index);
    const cumulative = counts.slice(0, index + 1).reduce((sum, c) => sum + c.total - c.blocked - c.planned, 0);
    return {
      index,
      name: wave.name,
      spec: waveSpecText(wave),
      state: waveState(row, index, record?.finished_at ?? null, record?.gates_met_at ?? null, record !== undefined),
      gates: {
        bake: formatDuration(gates.bakeMs),
        failureBudget: formatFailureBudget(gates.failureBudget),
        timeout: gates.timeoutMs === null ? null : formatDuration(gates.timeoutMs),
      },
      allowedFailures: allowedFailures(gates.failureBudget, cumulative),
      startedAt: iso(record?.started_at),
      gatesMetAt: iso(record?.gates_met_at),
      bakeUntil:
        record?.gates_met_at === null || record?.gates_met_at === undefined || record.finished_at !== null
          ? null
          : iso(record.gates_met_at + gates.bakeMs),
      timeoutAt:
        record === undefined || record.finished_at !== null || gates.timeoutMs === null
          ? null
          : iso(record.started_at + gates.timeoutMs),
      finishedAt: iso(record?.finished_at),
      counts: counts[index]!,
    };
  });
  const totals: WaveCounts = {
    total: 0,
    applied: 0,
    healthy: 0,
    failed: 0,
    pending: 0,
    blocked: 0,
    planned: 0,
    reverted: 0,
    reverting: 0,
  };
  for (const c of counts) {
    for (const key of Object.keys(totals) as (keyof WaveCounts)[]) totals[key] += c[key];
  }
  const summary = summarize(
    row,
    plan.waves.map((w) => w.name),
    evaluation.members.length,
  );
  const { waves: _waveCount, members: _memberCount, ...head } = summary;
  return {
    ...head,
    plan: {
      waves: plan.waves.map((w) => ({ name: w.name, spec: waveSpecText(w) })),
      bake: formatDuration(plan.bakeMs),
      failureBudget: formatFailureBudget(plan.failureBudget),
      timeout: plan.timeoutMs === null ? null : formatDuration(plan.timeoutMs),
      rollbackOnFailure: plan.rollbackOnFailure,
    },
    selected: evaluation.selected,
    outside: evaluation.outside,
    totals: { ...totals, members: evaluation.members.length },
    waves,
    ...(listing === 'none' ? {} : { members: list.slice(0, limit), membersTotal: list.length }),
  };
}

function waveState(
  row: RolloutRow,
  index: number,
  finishedAt: number | null,
  gatesMetAt: number | null,
  started: boolean,
): WaveState {
  if (finishedAt !== null) return 'passed';
  const active = row.state === 'running' || row.state === 'paused';
  if (!started) return active ? 'pending' : 'not-started';
  if (index !== row.current_wave) return 'passed';
  switch (row.state) {
    case 'running':
      return gatesMetAt === null ? 'in-progress' : 'baking';
    case 'paused':
      return 'paused';
    case 'aborted':
      return 'aborted';
    case 'rolled-back':
      return 'rolled-back';
    case 'completed':
      return 'passed';
  }
}
