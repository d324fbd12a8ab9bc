import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RolloutStore } from '../../../src/features/rollouts/rollout-store.ts';
import type { OnceOnly } from '../../../src/features/replicas/replica-lease.ts';
import { FleetIndex } from '../../../src/features/targets/fleet-index.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import { ALICE, RolloutHub, type SimTarget } from './rollout-fixture.ts';

/*
 * A wave over more targets than one slice (here three) records its members a slice per step,
 * each step its own transaction, the next after a turn of the event loop: no step holds the
 * hub for the whole of an 18,000-target wave.
 */
describe("a wave's members, recorded a slice per step", () => {
  let t: RolloutHub;

  afterEach(async () => {
    await t.close();
  });

  async function open(): Promise<SimTarget[]> {
    t = await RolloutHub.open({ enlistSlice: 3 });
    t.publish('app', '1.0.0');
    return t.fleet(7, { env: 'prod' });
  }

  const members = (id: string): number => t.services.rollouts.view(id, 'none', 0).totals.members;

  it('answers the create with the first slice recorded, and records the rest a slice per turn of the event loop', async () => {
    const fleet = await open();
    const { id } = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'env=prod' }, ALICE).rollout;
    expect(members(id)).toBe(3);
    const [start] = t.audits('rollout.wave.start');
    expect(start).toMatchObject({ details: { members: 3, more: true } });
    expect(start!.subjects).toHaveLength(3);

    await turn();
    expect(members(id)).toBe(6);
    await turn();
    expect(members(id)).toBe(7);

    // The rest joined as steps of their own, each target named once across the wave's entries.
    const joins = t.audits('rollout.member.join');
    expect(joins.map((j) => j.subjects.length)).toEqual([3, 1]);
    const named = [start!, ...joins].flatMap((e) => e.subjects);
    expect([...named].sort()).toEqual(fleet.map((f) => f.id).sort());
    expect(t.audits('rollout.wave.start')).toHaveLength(1);
  });

  it("waits for a later turn to record the next slice while other work spent this turn's budget", async () => {
    t = await RolloutHub.open({ enlistSlice: 3, turnBudgetMs: 0.001 });
    t.publish('app', '1.0.0');
    t.fleet(7, { env: 'prod' });
    // The create's own transaction spends the tiny budget of its turn.
    const { id } = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'env=prod' }, ALICE).rollout;
    await turn();
    expect(members(id)).toBe(3);
    // Later turns start with the budget whole again: the rest is recorded, a step at a time.
    await vi.waitFor(() => expect(members(id)).toBe(7));
    expect(t.audits('rollout.member.join').map((j) => j.subjects.length)).toEqual([3, 1]);
  });

  it('takes one step a turn for a rollout whose follow-up step was asked for more than once', async () => {
    t = await RolloutHub.open({ enlistSlice: 3 });
    t.publish('app', '1.0.0');
    t.fleet(10, { env: 'prod' });
    const { id } = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'env=prod' }, ALICE).rollout;
    t.services.rollouts.controller.reconcileSoon(id);
    t.services.rollouts.controller.reconcileSoon(id);
    await turn();
    expect(members(id)).toBe(6);
    await vi.waitFor(() => expect(members(id)).toBe(10));
  });

  it('records no further slice once the controller stopped while the next waited for its turn', async () => {
    await open();
    const { id } = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'env=prod' }, ALICE).rollout;
    t.services.rollouts.controller.stop();
    await turn();
    await turn();
    expect(members(id)).toBe(3);
  });

  it("catches the fleet index up with the turn's other sliced work, never in the timer's phase", async () => {
    await open();
    // Where each catch-up ran: the timer's callback, or the check phase where sliced work waits.
    const phases: string[] = [];
    // The method itself, to call through with the instance's `this`.
    const original = Reflect.get<TargetStore, 'catchUpFleetIndex'>(TargetStore.prototype, 'catchUpFleetIndex');
    const catchUp = vi.spyOn(TargetStore.prototype, 'catchUpFleetIndex').mockImplementation(function (
      this: TargetStore,
      deadline: number,
    ) {
      const stack = new Error().stack ?? '';
      phases.push(stack.includes('listOnTimeout') ? 'timers' : stack.includes('processImmediate') ? 'check' : 'other');
      return original.call(this, deadline);
    });
    try {
      t.services.rollouts.controller.start({ pollMs: 10 });
      // Three ticks at 10 ms, with room for a runner that stalls the thread.
      await vi.waitFor(() => expect(phases.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    } finally {
      t.services.rollouts.controller.stop();
      catchUp.mockRestore();
    }
    expect(phases.filter((phase) => phase === 'timers')).toEqual([]);
  });

  it('keeps a wave open while some of its targets wait for their slice, and completes it once all are recorded and healthy', async () => {
    const fleet = await open();
    const { id } = t.services.rollouts.create(
      { release: 'app@1.0.0', selector: 'env=prod', waves: 'all:100%' },
      ALICE,
    ).rollout;
    // The recorded members report healthy before the others are recorded: the wave still waits for them.
    const [start] = t.audits('rollout.wave.start');
    t.issue();
    t.converge(fleet.filter((f) => start!.subjects.includes(f.id)));
    // This step records the next slice rather than judging the wave's gates on the first alone.
    expect(t.services.rollouts.controller.step(id)).toBe(true);
    expect(t.audits('rollout.wave.complete')).toEqual([]);
    expect(members(id)).toBe(6);
    await turn();
    await turn();
    t.issue();
    t.converge(fleet);
    t.reconcile();
    expect(t.services.rollouts.view(id, 'none', 0)).toMatchObject({ state: 'completed', totals: { healthy: 7 } });
  });

  it("holds its agents' fetches while the rest of the wave is recorded, and issues them once the last slice is", async () => {
    const fleet = await open();
    const { id } = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'env=prod' }, ALICE).rollout;
    const [start] = t.audits('rollout.wave.start');
    const target = fleet.find((f) => start!.subjects.includes(f.id))!;
    let fetched = false;
    const fetch = t.services.rollouts.controller.issuer.issueOnFetch(target.id).then(() => {
      fetched = true;
    });

    // The next slice is recorded (and told) before the fetch signs anything.
    await turn();
    expect(members(id)).toBe(6);
    expect(fetched).toBe(false);
    expect(t.generation(target)).toBe(0);

    // The last slice releases the fetch, which issues its member.
    await turn();
    expect(members(id)).toBe(7);
    await fetch;
    expect(t.generation(target)).toBe(1);
    expect(t.desired(target, 'app')).toBe('app@1.0.0');
  });

  /** Creates the rollout and the targets its second and third slices would take, in id order. */
  function startSliced(fleet: readonly SimTarget[]): { id: string; waiting: SimTarget[] } {
    const { id } = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'env=prod' }, ALICE).rollout;
    const start = t.audits('rollout.wave.start').find((e) => e.details['rollout'] === id);
    const waiting = fleet.filter((f) => !start!.subjects.includes(f.id)).sort((a, b) => a.id.localeCompare(b.id));
    expect(waiting).toHaveLength(4);
    return { id, waiting };
  }

  /** The targets that joined the wave after its start, in the order they joined; `id`: of that rollout alone. */
  const joined = (id?: string): string[] =>
    t
      .audits('rollout.member.join')
      .filter((e) => id === undefined || e.details['rollout'] === id)
      .flatMap((e) => e.subjects);

  it("evaluates the wave's selection when it starts, not again for each slice that follows", async () => {
    const fleet = await open();
    const selections = vi.spyOn(FleetIndex.prototype, 'selectSlots');
    try {
      startSliced(fleet);
      selections.mockClear();
      await turn();
      expect(joined()).toHaveLength(3);
      expect(selections).not.toHaveBeenCalled();
    } finally {
      selections.mockRestore();
    }
  });

  it("keeps no candidate list on a replica without the lease: the wave's next slice evaluates the selection again", async () => {
    const fleet = await open();
    // The controller's view of the lease; a replica that lost it keeps no memo of the leader's work.
    const { once } = t.services.rollouts.controller as unknown as { once: OnceOnly };
    const held = vi.spyOn(once, 'held').mockReturnValue(false);
    const selections = vi.spyOn(FleetIndex.prototype, 'selectSlots');
    try {
      startSliced(fleet);
      selections.mockClear();
      await turn();
      expect(selections).toHaveBeenCalled();
      expect(joined()).toHaveLength(3);
    } finally {
      selections.mockRestore();
      held.mockRestore();
    }
  });

  it('reads back the members the slices recorded once the last is recorded, not between two slices', async () => {
    const fleet = await open();
    const reads = vi.spyOn(RolloutStore.prototype, 'membersOf');
    try {
      const { id } = startSliced(fleet);
      reads.mockClear();
      await turn();
      await turn();
      expect(joined()).toHaveLength(4);
      expect(reads).not.toHaveBeenCalled();
      // The next pass takes them in before it judges the wave's gates.
      t.reconcile();
      expect(reads).toHaveBeenCalled();
      expect(members(id)).toBe(7);
    } finally {
      reads.mockRestore();
    }
  });

  it('leaves out a target relabelled out of the selection between two slices', async () => {
    const fleet = await open();
    const { id, waiting } = startSliced(fleet);
    const moved = waiting[0]!;
    t.services.targets.editMetadata(moved.id, 'labels', { env: 'dev' }, [], ALICE);
    await turn();
    await turn();
    expect(joined()).toEqual(waiting.slice(1).map((w) => w.id));
    expect(members(id)).toBe(6);
    expect(t.desired(moved, 'app')).toBeUndefined();
  });

  it('leaves out targets disabled or revoked between two slices', async () => {
    const fleet = await open();
    const { id, waiting } = startSliced(fleet);
    t.services.targets.setStatus(waiting[0]!.id, 'disabled', ALICE, 'maintenance');
    t.services.targets.setStatus(waiting[3]!.id, 'revoked', ALICE, 'key leaked');
    await turn();
    await turn();
    expect(joined()).toEqual([waiting[1]!.id, waiting[2]!.id]);
    expect(members(id)).toBe(5);
  });

  it('leaves out a target policy holds since the wave started', async () => {
    const fleet = await open();
    t.services.policies.apply(
      {
        apiVersion: 'flotilla.io/v1',
        kind: 'Policy',
        metadata: { name: 'acme-dual' },
        spec: { scope: 'tenant=acme', approvals: { required: 2 } },
      },
      ALICE,
    );
    const { id, waiting } = startSliced(fleet);
    t.services.targets.editMetadata(waiting[1]!.id, 'labels', { tenant: 'acme' }, [], ALICE);
    await turn();
    await turn();
    expect(joined()).toEqual([waiting[0]!.id, waiting[2]!.id, waiting[3]!.id]);
    expect(t.view(id).members!.find((m) => m.targetId === waiting[1]!.id)).toMatchObject({
      state: 'blocked',
      reason: expect.stringMatching(/^awaiting-approval/),
    });
  });

  it('leaves out a target another rollout of the release took since the wave started', async () => {
    const fleet = await open();
    t.enroll({ env: 'dev', ring: 'two' });
    const other = t.services.rollouts.create({ release: 'app@1.0.0', selector: 'ring=two' }, ALICE).rollout;
    const { id, waiting } = startSliced(fleet);
    const taken = waiting[2]!;
    t.services.targets.editMetadata(taken.id, 'labels', { ring: 'two' }, [], ALICE);
    // The older rollout takes it in before the next slice of the newer one is recorded.
    t.services.rollouts.controller.step(other.id);
    await turn();
    await turn();
    expect(joined(other.id)).toEqual([taken.id]);
    expect(joined(id)).toEqual([waiting[0]!.id, waiting[1]!.id, waiting[3]!.id]);
  });

  it('takes in a target that enrolls while the slices are recorded', async () => {
    const fleet = await open();
    const { id } = startSliced(fleet);
    const late = t.enroll({ env: 'prod' });
    await turn();
    await turn();
    await turn();
    expect(joined()).toContain(late.id);
    expect(members(id)).toBe(8);
  });
});
