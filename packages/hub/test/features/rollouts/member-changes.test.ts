import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, expect, it, vi } from 'vitest';
import { MemberCache } from '../../../src/features/rollouts/rollout-evaluation.ts';
import { ALICE, RolloutHub } from './rollout-fixture.ts';

let t: RolloutHub;

afterEach(async () => {
  vi.restoreAllMocks();
  await t.close();
});

/** A rollout of one wave over `targets` targets, its first pass taken, with spies on the store's reads of all members and of some. */
async function rolloutWatched(targets: number) {
  t = await RolloutHub.open();
  t.publish('app', '2.0.0');
  const fleet = t.fleet(targets, { env: 'prod' });
  const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'all:100%' });
  t.reconcile();
  const store = t.services.rollouts['rollouts'];
  return { fleet, rollout, all: vi.spyOn(store, 'members'), some: vi.spyOn(store, 'membersOf') };
}

it('re-reads only the members whose targets changed since the last pass, not every member', async () => {
  const { fleet, rollout, all, some } = await rolloutWatched(30);

  const [reporter] = fleet;
  t.report(reporter!);
  t.reconcile();
  expect(all).not.toHaveBeenCalled();
  expect(new Set(some.mock.calls.flatMap(([, targets]) => targets))).toEqual(new Set([reporter!.id]));

  const view = t.view(rollout.id);
  expect(view.members!.find((m) => m.targetId === reporter!.id)!.state).toBe('healthy');
  expect(view.totals).toMatchObject({ total: 30, healthy: 1, pending: 29 });
});

it('takes in the members a page of changes names with one read, not one read per member', async () => {
  const { fleet, rollout, all, some } = await rolloutWatched(120);

  // Fewer than would make a pass read every member: these are read as changed members.
  const reporters = fleet.slice(0, 40);
  t.converge(reporters);
  t.reconcile();
  expect(all).not.toHaveBeenCalled();
  expect(some).toHaveBeenCalledTimes(1);
  expect(new Set(some.mock.calls[0]![1])).toEqual(new Set(reporters.map((r) => r.id)));
  expect(t.view(rollout.id).totals).toMatchObject({ total: 120, healthy: 40, pending: 80 });
});

it('sees every change a pass has not taken in yet, whoever made it, and forgets nothing across a restart', async () => {
  t = await RolloutHub.open();
  t.publish('app', '2.0.0');
  const fleet = t.fleet(6, { env: 'prod' });
  const rollout = t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'all:100%' });
  t.converge(fleet.slice(0, 3));
  t.services.targets.setStatus(fleet[3]!.id, 'disabled', { kind: 'user', id: 'alice' }, 'maintenance');
  expect(t.view(rollout.id).totals).toMatchObject({ healthy: 3, blocked: 1, pending: 2 });
  await t.restart();
  t.converge(fleet.slice(4));
  expect(t.view(rollout.id).totals).toMatchObject({ healthy: 5, blocked: 1, pending: 0 });
});

it('keeps no members and deletes no record of their changes on a replica without the lease', async () => {
  t = await RolloutHub.open();
  t.publish('app', '2.0.0');
  const fleet = t.fleet(3, { env: 'prod' });
  t.create({ release: 'app@2.0.0', selector: 'env=prod', waves: 'all:100%' });
  t.reconcile();
  const store = t.services.rollouts['rollouts'];
  const follower = new MemberCache(() => false);
  follower.catchUp(store);
  t.report(fleet[0]!);
  const recorded = store.changesSince(0).length;
  expect(recorded).toBeGreaterThan(0);
  // The lease holder reads these changes; another replica deleting them would hide them from it.
  follower.catchUp(store);
  expect(store.changesSince(0)).toHaveLength(recorded);
});

it('takes in a page of changes by the members it names, though the store holds many more than were kept', async () => {
  t = await RolloutHub.open({ enlistSlice: 50 });
  t.publish('app', '2.0.0');
  t.fleet(600, { env: 'prod' });
  const { id } = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
  const store = t.services.rollouts['rollouts'];
  // The wave's slices are recorded and read back only after the last: 50 members kept, 600 in the store.
  while (store.memberCount(id) < 600) await turn();
  const all = vi.spyOn(store, 'members');
  const some = vi.spyOn(store, 'membersOf');
  t.reconcile();
  expect(all).not.toHaveBeenCalled();
  expect(some).toHaveBeenCalled();
});

it('deletes the changes it took in at a later catch-up when one prune leaves some, though nothing new changed', async () => {
  const { fleet } = await rolloutWatched(10);
  const store = t.services.rollouts['rollouts'];
  t.converge(fleet);
  // The first prune deletes nothing and says some are left, as a backlog larger than a page would.
  const prunes = vi.spyOn(store, 'pruneChanges').mockReturnValueOnce(false);
  t.reconcile();
  expect(prunes.mock.calls.length).toBeGreaterThanOrEqual(2);
  expect(store.changesSince(0)).toEqual([]);
  // Once none is left, a catch-up with nothing new deletes nothing.
  const calls = prunes.mock.calls.length;
  t.reconcile();
  expect(prunes).toHaveBeenCalledTimes(calls);
});
