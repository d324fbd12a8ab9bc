import { afterEach, describe, expect, it, vi } from 'vitest';
import { ALICE, RolloutHub, type SimTarget } from './rollout-fixture.ts';
import { RolloutView } from '@flotilla/protocol/api';

/*
 * A wave's members are recorded with the step that starts the wave; their envelopes are
 * issued afterwards, a batch per transaction (here three members a batch, drained by hand).
 */
describe("a wave's envelopes, issued in batches after its members are recorded", () => {
  let t: RolloutHub;

  afterEach(async () => {
    await t.close();
  });

  async function open(): Promise<SimTarget[]> {
    t = await RolloutHub.open({ issueBatch: 3 });
    t.publish('app', '1.0.0');
    t.publish('app', '2.0.0');
    return t.fleet(7, { env: 'prod' });
  }

  const updated = (fleet: readonly SimTarget[]): SimTarget[] => fleet.filter((f) => t.desired(f, 'app') !== undefined);
  // Due or not: how long members wait for their agents' fetches is another behaviour's.
  const batch = (): number => t.services.rollouts.controller.issuer['batch'](false).issued;

  it('answers the create with every member recorded and pending, before any envelope is signed', async () => {
    const fleet = await open();
    const rollout = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
    expect(rollout.totals).toMatchObject({ total: 7, pending: 7 });
    expect(updated(fleet)).toEqual([]);
    const starts = t.audits('rollout.wave.start');
    expect(starts.flatMap((e) => e.subjects).sort()).toEqual(fleet.map((f) => f.id).sort());
  });

  it('shows a member still waiting for its envelope without a generation, in a view the API schema accepts', async () => {
    await open();
    const { rollout } = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE);
    const view = t.view(rollout.id);
    expect(RolloutView.safeParse(view).error?.issues).toBeUndefined();
    expect(view.members!.filter((m) => m.generation !== undefined)).toEqual([]);
  });

  it('signs each member one envelope, a batch at a time, each batch a generation up from where it was', async () => {
    const fleet = await open();
    t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE);
    // A batch also ends early when its time slice is used up, so only its bound is fixed.
    let total = 0;
    for (let issued = batch(); issued > 0; issued = batch()) {
      expect(issued).toBeLessThanOrEqual(3);
      total += issued;
      expect(updated(fleet)).toHaveLength(total);
    }
    expect(total).toBe(7);
    for (const target of fleet) expect(t.generation(target)).toBe(1);
    const members = t.view(t.services.rollouts.list(undefined, undefined, 1).items[0]!.id).members!;
    expect(members.map((m) => m.generation)).toEqual(members.map(() => 1));
  });

  it('issues nothing while the rollout is paused, and the rest after it resumes', async () => {
    const fleet = await open();
    const { id } = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
    const first = batch();
    t.services.rollouts.pause(id, ALICE, undefined);
    expect(t.issue()).toBe(0);
    expect(updated(fleet)).toHaveLength(first);
    expect(t.view(id).totals.pending).toBe(7);
    t.services.rollouts.resume(id, ALICE, undefined);
    expect(t.issue()).toBe(7 - first);
    expect(updated(fleet)).toHaveLength(7);
  });

  it('forgets the members still waiting when the rollout is aborted: they never get the release', async () => {
    const fleet = await open();
    const { id } = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
    const first = batch();
    expect(first).toBeLessThan(7);
    const view = t.services.rollouts.abort(id, ALICE, undefined);
    expect(view.totals.total).toBe(first);
    expect(t.issue()).toBe(0);
    expect(updated(fleet)).toHaveLength(first);
  });

  it('rolls back only the members that were issued, and forgets the rest', async () => {
    const fleet = await open();
    for (const target of fleet) t.services.desired.setRelease(target.id, 'app', 'app@1.0.0', ALICE);
    const { id } = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
    const first = batch();
    t.services.rollouts.rollback(id, ALICE, 'bad release');
    expect(fleet.map((f) => t.desired(f, 'app'))).toEqual(fleet.map(() => 'app@1.0.0'));
    // Issued ones went 1.0.0 -> 2.0.0 -> 1.0.0; the others were never touched by the rollout.
    const generations = fleet.map((f) => t.generation(f));
    expect(generations.filter((g) => g === 3)).toHaveLength(first);
    expect(generations.filter((g) => g === 1)).toHaveLength(7 - first);
    const [rollback] = t.audits('rollout.rollback');
    expect(rollback!.details).toMatchObject({ reverted: first, skipped: 0 });
    expect(t.issue()).toBe(0);
  });

  it('leaves out a target revoked before its envelope was issued', async () => {
    const fleet = await open();
    const { id } = t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
    const last = [...fleet].sort((a, b) => (a.id < b.id ? -1 : 1)).at(-1)!;
    t.services.targets.setStatus(last.id, 'revoked', ALICE, 'key leaked');
    expect(t.issue()).toBe(6);
    expect(t.desired(last, 'app')).toBeUndefined();
    expect(t.view(id).members!.map((m) => m.targetId)).not.toContain(last.id);
  });
});

/*
 * A wave's members are told when the wave takes them in, and their agents' fetches issue their
 * envelopes (the background batches wait for their grace period, which the test's clock never
 * reaches, so only fetches and explicit drains issue here).
 */
describe("a wave's members, told at once and issued on their agent's fetch", () => {
  let t: RolloutHub;

  afterEach(async () => {
    await t.close();
  });

  async function open(): Promise<SimTarget[]> {
    t = await RolloutHub.open();
    t.publish('app', '1.0.0');
    t.publish('app', '2.0.0');
    return t.fleet(3, { env: 'prod' });
  }

  const issuer = () => t.services.rollouts.controller.issuer;
  const create = () => t.services.rollouts.create({ release: 'app@2.0.0', selector: 'env=prod' }, ALICE).rollout;
  /** Calls `onChange` when the target's long-poll would be answered (well after any test ends otherwise). */
  const longPoll = (target: SimTarget): { woken: boolean } => {
    const poll = { woken: false };
    t.services.desired.waitForChange(target.id, 3_600_000, () => {
      poll.woken = true;
    });
    return poll;
  };

  it("wakes every member's long-poll as soon as the create commits, before any envelope is issued", async () => {
    const fleet = await open();
    const polls = fleet.map(longPoll);
    create();
    await Promise.resolve();
    expect(polls.map((p) => p.woken)).toEqual([true, true, true]);
    expect(fleet.map((f) => t.generation(f))).toEqual([0, 0, 0]);
  });

  it('issues in batches the members whose agents did not come, waking their long-polls but not telling their streams twice', async () => {
    const fleet = await open();
    const told = vi.spyOn(t.services.streams, 'changed');
    create();
    await Promise.resolve();
    expect(told.mock.calls.flatMap(([ids]) => [...ids]).sort()).toEqual(fleet.map((f) => f.id).sort());
    told.mockClear();
    const polls = fleet.map(longPoll);
    expect(issuer().drain()).toBe(3);
    expect(polls.map((p) => p.woken)).toEqual([true, true, true]);
    expect(told).not.toHaveBeenCalled();
  });

  it("issues a member's envelope when its agent fetches, before any batch reaches it", async () => {
    const fleet = await open();
    const { id } = create();
    await issuer().issueOnFetch(fleet[1]!.id);
    expect(fleet.map((f) => t.desired(f, 'app'))).toEqual([undefined, 'app@2.0.0', undefined]);
    expect(t.services.desired.current(fleet[1]!.id)?.envelopeJson).toContain('"generation":1');
    expect(issuer().stats).toMatchObject({ onFetch: 1, batches: 0 });
    const member = t.view(id).members!.find((m) => m.targetId === fleet[1]!.id);
    expect(member?.generation).toBe(1);
    // The batches issue the rest, and never the fetched one again.
    expect(t.issue()).toBe(2);
    expect(fleet.map((f) => t.generation(f))).toEqual([1, 1, 1]);
  });

  it('answers the fetch that issued a member with the envelope as written, without reading it back', async () => {
    const fleet = await open();
    create();
    const target = fleet[0]!;
    const cache = t.services.targets['deps'].cache;
    // The fetch authenticated first, so the target's state is held when its member is issued.
    cache.get(target.id);
    const reads = vi.spyOn(t.services.targets['deps'].store, 'serving');
    await issuer().issueOnFetch(target.id);
    const served = t.services.desired.checkIn(target.id);
    expect(reads).not.toHaveBeenCalled();
    cache.invalidate(target.id);
    expect(t.services.desired.checkIn(target.id)).toEqual(served);
    expect(served?.envelopeJson).toContain('"generation":1');
  });

  it("leaves a paused rollout's waiting member alone when its agent fetches", async () => {
    const fleet = await open();
    const { id } = create();
    t.services.rollouts.pause(id, ALICE, undefined);
    await issuer().issueOnFetch(fleet[0]!.id);
    expect(t.generation(fleet[0]!)).toBe(0);
    expect(t.desired(fleet[0]!, 'app')).toBeUndefined();
  });

  it('tells the waiting members again when a paused rollout resumes, and their fetch issues them then', async () => {
    const fleet = await open();
    const { id } = create();
    t.services.rollouts.pause(id, ALICE, undefined);
    await Promise.resolve();
    const polls = fleet.map(longPoll);
    t.services.rollouts.resume(id, ALICE, undefined);
    expect(polls.map((p) => p.woken)).toEqual([true, true, true]);
    await issuer().issueOnFetch(fleet[2]!.id);
    expect(t.desired(fleet[2]!, 'app')).toBe('app@2.0.0');
  });

  it('issues one envelope per generation when two fetches of the same member come at once', async () => {
    const fleet = await open();
    create();
    const target = fleet[0]!;
    await Promise.all([issuer().issueOnFetch(target.id), issuer().issueOnFetch(target.id)]);
    expect(t.generation(target)).toBe(1);
    expect(issuer().stats.onFetch).toBe(1);
  });

  it('issues one envelope per generation when a fetch races a batch that reaches the member first', async () => {
    const fleet = await open();
    create();
    const target = fleet[0]!;
    // The fetch saw the member waiting and queued its transaction; the batch commits before it runs.
    const fetched = issuer().issueOnFetch(target.id);
    expect(t.issue()).toBe(3);
    await fetched;
    expect(fleet.map((f) => t.generation(f))).toEqual([1, 1, 1]);
    expect(issuer().stats).toMatchObject({ issued: 3, onFetch: 0 });
  });

  it('forgets a member aborted before its agent fetched: the fetch issues nothing', async () => {
    const fleet = await open();
    const { id } = create();
    t.services.rollouts.abort(id, ALICE, undefined);
    await issuer().issueOnFetch(fleet[0]!.id);
    expect(fleet.map((f) => t.generation(f))).toEqual([0, 0, 0]);
    expect(t.view(id).totals.total).toBe(0);
  });
});
