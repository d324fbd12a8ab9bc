import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFlotillaError } from '@flotilla/protocol';
import { ALICE, RolloutHub, type SimTarget } from './rollout-fixture.ts';

const MINUTE = 60_000;

describe('rollout controller (real SQLite, injected clock)', () => {
  let t: RolloutHub;

  beforeEach(async () => {
    t = await RolloutHub.open();
    t.publish('app', '1.0.0');
    t.publish('app', '2.0.0');
    t.publish('monitoring', '1.0.0');
  });

  afterEach(async () => {
    await t.close();
  });

  /** Reports from every target, then one reconcile. */
  function tick(fleet: readonly SimTarget[], failing: ReadonlySet<string> = new Set()): void {
    t.converge(fleet, failing);
    t.reconcile();
  }

  it('leaves revoked targets out of every selection: they never fetch desired state again', () => {
    const fleet = t.fleet(4, { env: 'prod' });
    const revoked = fleet[1]!;
    t.services.targets.setStatus(revoked.id, 'revoked', ALICE, 'key leaked');
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'all:100%' });
    const view = t.view(rollout.id);
    expect(view.selected).toBe(3);
    expect(view.members!.map((m) => m.targetId)).not.toContain(revoked.id);
    expect(t.desired(revoked, 'app')).toBeUndefined();
  });

  it('walks percentage waves in order, each gated on applied-and-healthy reports', () => {
    const fleet = t.fleet(20, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'canary:5%,half:50%,rest:100%' });
    expect(rollout.state).toBe('running');
    expect(rollout.currentWave).toEqual({ index: 0, name: 'canary' });
    let view = t.view(rollout.id);
    expect(view.waves.map((w) => w.counts.total)).toEqual([1, 9, 10]);
    expect(view.waves[0]!.counts.pending).toBe(1);
    expect(view.waves[1]!.counts.planned).toBe(9);
    const canary = view.members!.find((m) => m.wave === 'canary')!;
    expect(
      t.desired(
        fleet.find((f) => f.id === canary.targetId)!,
        'app',
      ),
    ).toBe('app@2.0.0');
    expect(fleet.filter((f) => t.desired(f, 'app') !== undefined)).toHaveLength(1);

    // A reconcile without reports changes nothing: the gate waits for the canary's report.
    t.reconcile();
    expect(t.view(rollout.id).currentWave!.index).toBe(0);

    tick(fleet);
    view = t.view(rollout.id);
    expect(view.currentWave!.name).toBe('half');
    expect(fleet.filter((f) => t.desired(f, 'app') === 'app@2.0.0')).toHaveLength(10);
    tick(fleet);
    tick(fleet);
    view = t.view(rollout.id);
    expect(view.state).toBe('completed');
    expect(view.totals).toMatchObject({ total: 20, healthy: 20, applied: 20, failed: 0, pending: 0 });
    expect(view.waves.map((w) => w.state)).toEqual(['passed', 'passed', 'passed']);
    const starts = t.audits('rollout.wave.start');
    expect(starts.map((e) => e.details['waveName'])).toEqual(['canary', 'half', 'rest']);
    expect(starts.every((e) => e.actor.kind === 'system' && e.actor.id === 'rollout-controller')).toBe(true);
    expect(starts.flatMap((e) => e.subjects).sort()).toEqual(fleet.map((f) => f.id).sort());
    expect(t.audits('rollout.wave.complete')).toHaveLength(3);
    expect(t.audits('rollout.complete')).toHaveLength(1);
  });

  it('never counts a report about an older generation, whatever its health', () => {
    const [a] = t.fleet(1, { env: 'prod' });
    t.services.desired.setRelease(a!.id, 'app', 'app@1.0.0', { kind: 'user', id: 'alice' });
    t.report(a!);
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod' });
    // Healthy, but about the generation before the rollout's: stale.
    t.report(a!, { generation: t.generation(a!) - 1, bundles: t.services.targets.get(a!.id).observed!.bundles });
    t.reconcile();
    expect(t.view(rollout.id).members![0]!.state).toBe('pending');
    // The right generation, but a report naming another digest: not applied.
    t.report(a!, { bundles: [] });
    t.reconcile();
    expect(t.view(rollout.id).members![0]!.state).toBe('pending');
    t.report(a!);
    t.reconcile();
    expect(t.view(rollout.id).state).toBe('completed');
  });

  it('bakes each wave for its bake time on the injected clock, restarting the bake when health drops', () => {
    const fleet = t.fleet(4, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'first:25%,rest:100%', bake: '10m' });
    tick(fleet);
    let wave = t.view(rollout.id).waves[0]!;
    expect(wave.state).toBe('baking');
    expect(wave.bakeUntil).toBe(new Date(t.now + 10 * MINUTE).toISOString());
    t.advance(9 * MINUTE);
    t.reconcile();
    expect(t.view(rollout.id).currentWave!.index).toBe(0);
    // The member turns degraded during the bake: it counts as failed, over the budget of 0.
    const member = fleet.find((f) => t.desired(f, 'app') !== undefined)!;
    t.report(member, { health: 'progressing' });
    t.reconcile();
    wave = t.view(rollout.id).waves[0]!;
    expect(wave.state).toBe('in-progress');
    expect(wave.gatesMetAt).toBeNull();
    t.report(member);
    t.reconcile();
    t.advance(9 * MINUTE);
    t.reconcile();
    expect(t.view(rollout.id).currentWave!.index).toBe(0);
    t.advance(1 * MINUTE);
    t.reconcile();
    expect(t.view(rollout.id).currentWave!.index).toBe(1);
  });

  it('announces a wave starting and losing its bake to the live events, though neither is an audited step', () => {
    const fleet = t.fleet(4, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'first:25%,rest:100%', bake: '10m' });
    const seen: { type: string; data: Record<string, unknown> }[] = [];
    const stop = t.services.dashboard.events.subscribe((event) => seen.push(event));
    try {
      tick(fleet);
      const member = fleet.find((f) => t.desired(f, 'app') !== undefined)!;
      t.report(member, { health: 'progressing' });
      t.reconcile();
    } finally {
      stop();
    }
    const steps = seen.filter((e) => e.type === 'rollout').map((e) => e.data);
    expect(steps).toEqual([
      { rollout: rollout.id, action: 'rollout.wave-baking', wave: 0 },
      { rollout: rollout.id, action: 'rollout.wave-waiting', wave: 0 },
    ]);
  });

  it('pauses by itself when a wave exceeds its failure budget, and continues when resumed after the fix', () => {
    const fleet = t.fleet(10, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'all:100%', failureBudget: '10%' });
    const failing = new Set([fleet[0]!.id, fleet[1]!.id]);
    tick(fleet, new Set([fleet[0]!.id]));
    // One of ten failed: within 10%, the wave passes with it.
    expect(t.view(rollout.id).state).toBe('completed');

    t.publish('app', '3.0.0');
    const second = t.create({ release: 'app@3.0.0', selector: 'env=prod', failureBudget: '10%' });
    tick(fleet, failing);
    let view = t.view(second.id);
    expect(view.state).toBe('paused');
    expect(view.reason).toMatch(/wave all: 2 targets failed, more than its failure budget of 10% allows \(1\)/);
    const pause = t.audits('rollout.pause').at(-1)!;
    expect(pause.actor).toEqual({ kind: 'system', id: 'rollout-controller' });
    expect(pause.details['cause']).toBe('failure-budget');
    expect(pause.subjects.sort()).toEqual([...failing].sort());

    // Paused: nothing moves, not even for healthy reports.
    tick(fleet);
    expect(t.view(second.id).state).toBe('paused');
    const resumed = t.services.rollouts.resume(second.id, { kind: 'user', id: 'bob' }, 'disk cleaned');
    expect(resumed.state).toBe('completed');
    expect(t.audits('rollout.resume').at(-1)!.actor).toEqual({ kind: 'user', id: 'bob' });
    view = t.view(second.id);
    expect(view.totals.healthy).toBe(10);
  });

  it('resumed while still failing, pauses again', () => {
    const fleet = t.fleet(3, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod' });
    tick(fleet, new Set([fleet[0]!.id]));
    expect(t.view(rollout.id).state).toBe('paused');
    expect(t.services.rollouts.resume(rollout.id, { kind: 'user', id: 'bob' }, undefined).state).toBe('paused');
  });

  it('pauses when a wave times out, with the timeout on the injected clock', () => {
    const fleet = t.fleet(2, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', timeout: '30m' });
    t.converge(fleet.slice(0, 1));
    t.advance(29 * MINUTE);
    t.reconcile();
    expect(t.view(rollout.id).state).toBe('running');
    t.advance(MINUTE);
    t.reconcile();
    const view = t.view(rollout.id);
    expect(view.state).toBe('paused');
    expect(view.reason).toMatch(/did not meet its gates within its timeout of 30m/);
    expect(t.audits('rollout.pause').at(-1)!.details['cause']).toBe('timeout');
  });

  it('rolls back by itself when the plan says so: members return to the previous release, or lose it', () => {
    const fleet = t.fleet(4, { env: 'prod' });
    for (const f of fleet.slice(0, 2))
      t.services.desired.setRelease(f.id, 'app', 'app@1.0.0', { kind: 'user', id: 'alice' });
    for (const f of fleet)
      t.services.desired.setRelease(f.id, 'monitoring', 'monitoring@1.0.0', { kind: 'user', id: 'alice' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', rollbackOnFailure: true });
    expect(fleet.map((f) => t.desired(f, 'app'))).toEqual(['app@2.0.0', 'app@2.0.0', 'app@2.0.0', 'app@2.0.0']);
    tick(fleet, new Set([fleet[3]!.id]));
    const view = t.view(rollout.id);
    expect(view.state).toBe('rolled-back');
    expect(fleet.map((f) => t.desired(f, 'app'))).toEqual(['app@1.0.0', 'app@1.0.0', undefined, undefined]);
    // Other releases are untouched by either direction.
    expect(fleet.every((f) => t.desired(f, 'monitoring') === 'monitoring@1.0.0')).toBe(true);
    const entry = t.audits('rollout.rollback').at(-1)!;
    expect(entry.actor).toEqual({ kind: 'system', id: 'rollout-controller' });
    expect(entry.details['reverted']).toBe(4);
    expect(view.totals.reverting).toBe(4);
    t.converge(fleet);
    expect(t.view(rollout.id).totals.reverted).toBe(4);
  });

  it('rolls back on command, leaving members whose release was changed since', () => {
    const fleet = t.fleet(3, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod' });
    tick(fleet);
    expect(t.view(rollout.id).state).toBe('completed');
    t.publish('app', '2.0.1');
    t.services.desired.setRelease(fleet[0]!.id, 'app', 'app@2.0.1', { kind: 'user', id: 'alice' });
    const view = t.services.rollouts.rollback(rollout.id, { kind: 'user', id: 'carol' }, 'bad release');
    expect(view.state).toBe('rolled-back');
    expect(fleet.map((f) => t.desired(f, 'app'))).toEqual(['app@2.0.1', undefined, undefined]);
    const entry = t.audits('rollout.rollback').at(-1)!;
    expect(entry.actor).toEqual({ kind: 'user', id: 'carol' });
    expect(entry.details).toMatchObject({ reverted: 2, skipped: 1 });
    expect(() => t.services.rollouts.rollback(rollout.id, { kind: 'user', id: 'carol' }, undefined)).toThrow(
      /rolled-back; it is finished/,
    );
  });

  it('takes in targets that enroll or are relabelled after it started, once their wave is reached', () => {
    const fleet = t.fleet(4, { env: 'prod', tier: 'web' });
    const outsider = t.enroll({ env: 'dev' });
    const rollout = t.create({
      release: 'app@2.0.0',
      selector: 'env=prod',
      waves: [
        { name: 'staging', selector: 'tier=staging' },
        { name: 'rest', percent: 100 },
      ],
    });
    // The staging wave selects nobody yet: it passes at once and the rest wave starts.
    expect(t.view(rollout.id).currentWave!.name).toBe('rest');
    const late = t.enroll({ env: 'prod' });
    t.reconcile();
    expect(t.desired(late, 'app')).toBe('app@2.0.0');
    t.services.targets.editMetadata(outsider.id, 'labels', { env: 'prod' }, [], { kind: 'user', id: 'alice' });
    t.reconcile();
    expect(t.desired(outsider, 'app')).toBe('app@2.0.0');
    const joins = t.audits('rollout.member.join');
    expect(joins.flatMap((e) => e.subjects).sort()).toEqual([late.id, outsider.id].sort());
    expect(t.view(rollout.id).members!.find((m) => m.targetId === late.id)!.wave).toBe('rest');
    tick([...fleet, late, outsider]);
    expect(t.view(rollout.id).state).toBe('completed');
    // Finished rollouts adopt no one.
    const later = t.enroll({ env: 'prod' });
    t.reconcile();
    expect(t.desired(later, 'app')).toBeUndefined();
  });

  it('keeps percentage waves stable as the fleet grows: earlier members never move', () => {
    const fleet = t.fleet(40, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'a:10%,b:50%,c:100%' });
    const first = t
      .view(rollout.id)
      .members!.filter((m) => m.state !== 'planned')
      .map((m) => m.targetId);
    expect(first).toHaveLength(4);
    t.fleet(40, { env: 'prod' });
    t.reconcile();
    const after = t.view(rollout.id).members!;
    for (const id of first) expect(after.find((m) => m.targetId === id)!.wave).toBe('a');
    // Newcomers fall into wave a by their own position, about its share.
    const wave = after.filter((m) => m.wave === 'a').length;
    expect(wave).toBeGreaterThanOrEqual(4);
    expect(wave).toBeLessThan(20);
    void fleet;
  });

  it('refuses a second rollout of the same release name over the same targets, naming them (409)', () => {
    const fleet = t.fleet(3, { env: 'prod' });
    const other = t.enroll({ env: 'dev' });
    const first = t.create({ release: 'app@2.0.0', selector: 'env=prod' });
    let error: unknown;
    try {
      t.create({ release: 'app@1.0.0', selector: `name in (${fleet[0]!.name}, ${other.name})` });
    } catch (e) {
      error = e;
    }
    expect(isFlotillaError(error, 'CONFLICT')).toBe(true);
    expect((error as Error).message).toContain(
      `rollout ${first.id} (app@2.0.0, running) already covers 1 of the targets this rollout selects: ${fleet[0]!.id}`,
    );
    expect((error as { details: unknown }).details).toMatchObject({
      rollout: first.id,
      count: 1,
      targets: [fleet[0]!.id],
    });
    // Another release name, or disjoint targets, are fine.
    expect(t.create({ release: 'monitoring@1.0.0', selector: 'env=prod' }).state).toBe('running');
    expect(t.create({ release: 'app@1.0.0', selector: 'env=dev' }).state).toBe('running');
    // Once the first is aborted, its targets are free again; its members keep the release.
    t.services.rollouts.abort(first.id, { kind: 'user', id: 'alice' }, 'changed plans');
    expect(t.create({ release: 'app@1.0.0', selector: `name=${fleet[0]!.name}` }).state).toBe('running');
  });

  it('blocks a target another running rollout of the same release already updated', () => {
    const a = t.enroll({ ring: 'one' });
    const b = t.enroll({ ring: 'two', zone: 'red' });
    const first = t.create({ release: 'app@2.0.0', selector: 'ring=one' });
    const second = t.create({ release: 'app@1.0.0', selector: 'ring=two or zone=blue' });
    // a is relabelled into the second rollout's selection while the first holds it.
    t.services.targets.editMetadata(a.id, 'labels', { zone: 'blue' }, [], { kind: 'user', id: 'alice' });
    t.reconcile();
    expect(t.desired(a, 'app')).toBe('app@2.0.0');
    const view = t.view(second.id);
    expect(view.members!.find((m) => m.targetId === a.id)).toMatchObject({
      state: 'blocked',
      reason: `held by rollout ${first.id} of the same release app`,
    });
    expect(view.totals.blocked).toBe(1);
    // Once the first is finished, the target is free and joins the second.
    t.services.rollouts.abort(first.id, { kind: 'user', id: 'alice' }, undefined);
    t.reconcile();
    expect(t.desired(a, 'app')).toBe('app@1.0.0');
    expect(t.desired(b, 'app')).toBe('app@1.0.0');
  });

  it('pause stops joins; resume restarts the wave clock; abort is final', () => {
    const fleet = t.fleet(2, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', timeout: '10m' });
    t.services.rollouts.pause(rollout.id, { kind: 'user', id: 'alice' }, undefined);
    const late = t.enroll({ env: 'prod' });
    t.advance(20 * MINUTE);
    t.reconcile();
    let view = t.view(rollout.id);
    expect(view.state).toBe('paused');
    expect(t.desired(late, 'app')).toBeUndefined();
    expect(view.members!.find((m) => m.targetId === late.id)).toMatchObject({
      state: 'pending',
      reason: 'joins when the rollout resumes',
    });
    view = t.services.rollouts.resume(rollout.id, { kind: 'user', id: 'alice' }, undefined);
    // The timeout restarted at resume: 20 minutes paused do not count.
    expect(view.state).toBe('running');
    expect(view.members ?? []).toEqual([]);
    expect(t.view(rollout.id).members!.find((m) => m.targetId === late.id)).toMatchObject({ state: 'pending' });
    // The late target joined at resume; its envelope comes with the next batch.
    t.issue();
    expect(t.desired(late, 'app')).toBe('app@2.0.0');
    t.services.rollouts.abort(rollout.id, { kind: 'user', id: 'alice' }, undefined);
    expect(() => t.services.rollouts.resume(rollout.id, { kind: 'user', id: 'alice' }, undefined)).toThrow(
      /aborted; it is finished/,
    );
    tick([...fleet, late]);
    expect(t.view(rollout.id).state).toBe('aborted');
  });

  it('resumes after a restart exactly where the store says: no step lost, none done twice', async () => {
    const fleet = t.fleet(10, { env: 'prod' });
    const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'a:10%,b:50%,c:100%', bake: '5m' });
    tick(fleet);
    expect(t.view(rollout.id).waves[0]!.state).toBe('baking');
    await t.restart();
    t.reconcile();
    // The bake started before the restart keeps its clock.
    expect(t.view(rollout.id).waves[0]!.state).toBe('baking');
    t.advance(5 * MINUTE);
    t.reconcile();
    t.reconcile();
    expect(t.view(rollout.id).currentWave!.name).toBe('b');
    await t.restart();
    t.reconcile();
    tick(fleet);
    t.advance(5 * MINUTE);
    tick(fleet);
    await t.restart();
    t.advance(5 * MINUTE);
    tick(fleet);
    t.advance(5 * MINUTE);
    tick(fleet);
    expect(t.view(rollout.id).state).toBe('completed');
    // Each target's envelope was bumped exactly once (from generation 0), and each wave started once.
    expect(fleet.map((f) => t.generation(f))).toEqual(fleet.map(() => 1));
    expect(t.audits('rollout.wave.start').map((e) => e.details['waveName'])).toEqual(['a', 'b', 'c']);
  });
});
