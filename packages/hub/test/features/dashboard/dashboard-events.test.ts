import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let enrollToken: string;

interface SseEvent {
  id: string | undefined;
  event: string;
  data: any;
}

/** Opens the event stream and collects events until `done` says so (or 10 s pass). */
async function collect(
  headers: Record<string, string>,
  done: (events: SseEvent[]) => boolean,
  started?: () => Promise<void>,
): Promise<{ status: number; events: SseEvent[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  const response = await request(`${hub.url}/v1/events`, { headers, signal: controller.signal });
  const events: SseEvent[] = [];
  if (response.statusCode !== 200) {
    clearTimeout(timer);
    await response.body.text();
    return { status: response.statusCode, events };
  }
  let buffer = '';
  let kicked = false;
  try {
    for await (const chunk of response.body) {
      buffer += chunk.toString();
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((l) => !l.startsWith(':') && l.includes(': '))
            .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
        );
        if (fields['event'] !== undefined)
          events.push({ id: fields['id'], event: fields['event'], data: JSON.parse(fields['data'] ?? 'null') });
      }
      if (!kicked && started !== undefined) {
        kicked = true;
        await started();
      }
      if (done(events)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: 200, events };
}

const admin = (): Record<string, string> => ({ authorization: `Bearer ${hub.adminToken}` });

beforeAll(async () => {
  hub = await startTestHub();
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 10, labels: { fleet: 'live' } }),
  });
  enrollToken = created.body.token;
});

afterAll(async () => {
  await hub.close();
});

describe('the live event stream', () => {
  it('needs an operator credential', async () => {
    const { status } = await collect({}, () => true);
    expect(status).toBe(401);
  });

  it('announces an accepted report and the audit entries committed after the stream opened', async () => {
    const agent = new ProtocolAgent(hub);
    const { events } = await collect(
      admin(),
      (seen) =>
        seen.some((e) => e.event === 'report') &&
        seen.some((e) => e.event === 'audit' && e.data.action === 'target.enroll'),
      async () => {
        await agent.enroll(enrollToken, 'live-1', hub.now());
        await agent.report(hub.now(), [], { kubernetesVersion: 'v1.30.1' });
      },
    );
    const report = events.find((e) => e.event === 'report')!;
    expect(report.data).toMatchObject({ targetId: agent.targetId, seq: 1, phase: 'applied', health: 'healthy' });
    const enroll = events.find((e) => e.event === 'audit' && e.data.action === 'target.enroll')!;
    expect(enroll.data.subjects).toEqual([agent.targetId]);
    expect(enroll.data).not.toHaveProperty('salt');
  });

  it('replays what a client missed when it resumes with Last-Event-ID', async () => {
    const events = hub.opened.hub.services.dashboard.events;
    const before = events.lastId;
    const agent = new ProtocolAgent(hub);
    await agent.enroll(enrollToken, 'live-2', hub.now());
    await agent.report(hub.now(), []);
    const { events: replayed } = await collect({ ...admin(), 'last-event-id': before }, (seen) =>
      seen.some((e) => e.event === 'report' && e.data.targetId === agent.targetId),
    );
    expect(replayed[0]!.event).not.toBe('reset');
    expect(replayed.map((e) => e.event)).toContain('audit');
    const ids = replayed.map((e) => Number(e.id!.split('-')[1]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids[0]).toBe(Number(before.split('-')[1]) + 1);
  });

  it('tells a client whose Last-Event-ID it cannot honour to reset', async () => {
    const { events } = await collect({ ...admin(), 'last-event-id': 'deadbeef-5' }, (seen) => seen.length > 0);
    expect(events[0]!.event).toBe('reset');
  });

  it('announces rollout steps under their own type, naming the rollout', async () => {
    const events = hub.opened.hub.services.dashboard.events;
    const seen: { type: string; data: any }[] = [];
    const stop = events.subscribe((event) => seen.push(event));
    try {
      hub.opened.hub.services.audit.append({
        actor: { kind: 'user', id: 'admin' },
        action: 'rollout.pause',
        subjects: [],
        outcome: 'success',
        details: { rollout: 'ro_0123456789abcdef', wave: 1 },
      });
      events.pollAudit();
    } finally {
      stop();
    }
    expect(seen.map((e) => e.type)).toEqual(['rollout', 'audit']);
    expect(seen[0]!.data).toMatchObject({ rollout: 'ro_0123456789abcdef', action: 'rollout.pause', wave: 1 });
  });

  it('ends open streams when the hub closes, so shutdown does not wait for them', async () => {
    const other = await startTestHub();
    const response = await request(`${other.url}/v1/events`, {
      headers: { authorization: `Bearer ${other.adminToken}` },
    });
    const read = response.body.text();
    await other.close();
    // Ended by the hub: the stream completes. Left to the shutdown's grace period, its socket
    // would be cut mid-stream and the read would fail.
    await expect(read).resolves.toContain('event: ready');
  });
});

describe('a stream that has carried no event yet', () => {
  it('starts with a ready event naming its position, so a client that drops before any event resumes without loss', async () => {
    const { events: opened } = await collect(admin(), (seen) => seen.some((e) => e.event === 'ready'));
    const ready = opened.find((e) => e.event === 'ready')!;
    expect(ready.id).toBe(hub.opened.hub.services.dashboard.events.lastId);
    const agent = new ProtocolAgent(hub);
    await agent.enroll(enrollToken, 'live-after-drop', hub.now());
    await agent.report(hub.now(), []);
    const { events: resumed } = await collect({ ...admin(), 'last-event-id': ready.id! }, (seen) =>
      seen.some((e) => e.event === 'report' && e.data.targetId === agent.targetId),
    );
    expect(resumed[0]!.event).not.toBe('reset');
    expect(resumed.some((e) => e.event === 'report' && e.data.targetId === agent.targetId)).toBe(true);
  });
});
