import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, * as ws from 'ws';
import { pino } from 'pino';
import { STREAM_CLOSE } from '@flotilla/protocol/api';
import type { Authenticator } from '../../../src/http/auth.ts';
import { AgentStreams } from '../../../src/features/stream/agent-streams.ts';
import { sharedTextFrame } from '../../../src/features/stream/shared-frame.ts';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

const CHANGED = '{"type":"changed"}';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(what: string, condition: () => boolean, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A stream opened by hand, counting the `changed` notices it hears. */
interface OpenStream {
  readonly ws: WebSocket;
  readonly messages: { text: string; binary: boolean }[];
  changes(): number;
  closedWith(): number | undefined;
}

async function openStream(hub: TestHub, targetId: string, token: string): Promise<OpenStream> {
  const socket = new WebSocket(`${hub.url.replace('http', 'ws')}/v1/targets/${targetId}/stream`, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  const messages: { text: string; binary: boolean }[] = [];
  let code: number | undefined;
  socket.on('message', (data: Buffer, binary) => messages.push({ text: data.toString('utf8'), binary }));
  socket.on('close', (c) => {
    code = c;
  });
  await until('the hello', () => messages.length > 0);
  return {
    ws: socket,
    messages,
    changes: () => messages.filter((m) => m.text === CHANGED).length,
    closedWith: () => code,
  };
}

async function enrolled(hub: TestHub, count: number): Promise<{ targetId: string; token: string }[]> {
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: count, ttlSeconds: 600 }),
  });
  const agents: { targetId: string; token: string }[] = [];
  for (let i = 0; i < count; i++) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(created.body.token, `site-${i}`, hub.now());
    agents.push({ targetId: agent.targetId, token: await agent.accessToken(hub.now()) });
  }
  return agents;
}

describe("the streams' notices", () => {
  let hub: TestHub | undefined;
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate();
    await hub?.close();
    hub = undefined;
  });

  it('frame the notice as ws frames a text message a server sends', () => {
    const [header, payload] = (
      ws as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }
    ).Sender.frame(Buffer.from(CHANGED), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false });
    expect(sharedTextFrame(CHANGED)).toEqual(Buffer.concat([header!, payload!]));
  });

  it("reach a ws client as exactly the notice's text, in order with the frames ws sends itself", async () => {
    hub = await startTestHub();
    const [agent] = await enrolled(hub, 1);
    const stream = await openStream(hub, agent!.targetId, agent!.token);
    sockets.push(stream.ws);

    hub.opened.hub.services.streams.changed([agent!.targetId]);
    stream.ws.send(JSON.stringify({ type: 'auth', token: agent!.token }));
    await until('the answer to the auth message', () => stream.messages.length === 3);

    expect(stream.messages.map((m) => [JSON.parse(m.text).type, m.binary])).toEqual([
      ['hello', false],
      ['changed', false],
      ['authenticated', false],
    ]);
    expect(stream.messages[1]!.text).toBe(CHANGED);
  });

  it('reach every open stream exactly once over many turns while streams are replaced, closed and revoked', async () => {
    // One share (32) a turn: the fleet's notices, behind 6,400 of targets with no stream, take 200 turns and more.
    hub = await startTestHub({ stream: { noticeSliceMs: 0 } });
    const agents = await enrolled(hub, 12);
    const first = await Promise.all(agents.map((a) => openStream(hub!, a.targetId, a.token)));
    sockets.push(...first.map((s) => s.ws));
    const streams = hub.opened.hub.services.streams;
    const elsewhere = Array.from({ length: 6400 }, (_, i) => `t_absent${i}`);
    const replaced = agents[0]!;
    const revoked = agents[2]!;

    streams.changed([...elsewhere, ...agents.map((a) => a.targetId)]);
    streams.statusChanged(revoked.targetId, 'revoked');
    first[1]!.ws.close();
    const second = await openStream(hub, replaced.targetId, replaced.token);
    sockets.push(second.ws);
    await until('the notices to be sent', () => streams.stats.notices >= agents.length - 3);
    await until('every open stream to hear its notice', () => first.slice(3).every((s) => s.changes() === 1));
    // The revoked stream is closed at once and told nothing; its agent fetches when it comes back.
    await until('the revoked stream to close', () => first[2]!.closedWith() !== undefined);
    expect(first[2]!.closedWith()).toBe(STREAM_CLOSE.forbidden);
    expect(first[2]!.changes()).toBe(0);
    // The replaced target is told once, on whichever of its streams was open when its turn came.
    await until('the replaced target to hear', () => first[0]!.changes() + second.changes() === 1);
    expect(first.slice(3).map((s) => s.changes())).toEqual(agents.slice(3).map(() => 1));
    expect(first[1]!.changes()).toBeLessThanOrEqual(1);
  });
});

/**
 * Queues three shares of notices (to targets with no stream) every turn, where a turn sends at
 * most two with no time slice, so the queue never drains until the returned stop is called.
 */
function queueNoticesEveryTurn(streams: Pick<AgentStreams, 'changed'>): () => void {
  let more = true;
  let round = 0;
  const feed = (): void => {
    if (!more) return;
    streams.changed(Array.from({ length: 96 }, (_, i) => `t_absent${round}_${i}`));
    round++;
    setImmediate(feed);
  };
  feed();
  return () => {
    more = false;
  };
}

describe('an envelope fetch while notices are being sent', () => {
  let hub: TestHub | undefined;

  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('waits until the notices queued before it are sent, and is answered', async () => {
    // A wait far beyond the test's: the fetch goes when the notices are sent, not before.
    hub = await startTestHub({ stream: { noticeSliceMs: 0, fetchWaitMaxMs: 600_000 } });
    const [agent] = await enrolled(hub, 1);
    const streams = hub.opened.hub.services.streams;
    // Notices keep coming faster than they are sent, until the fetch is seen waiting behind them.
    const stop = queueNoticesEveryTurn(streams);
    const fetched = call(hub.url, 'GET', `/v1/targets/${agent!.targetId}/envelope`, { token: agent!.token });
    await until('the fetch to wait', () => streams.stats.fetchesWaited === 1);
    let answered = false;
    void fetched.then(() => {
      answered = true;
    });
    for (let i = 0; i < 20; i++) await nextTurn();
    expect(answered).toBe(false);
    stop();
    expect((await fetched).status).toBe(204);
  });

  it('is answered after fetchWaitMaxMs behind notices that do not end', async () => {
    hub = await startTestHub({ stream: { noticeSliceMs: 0, fetchWaitMaxMs: 50 } });
    const [agent] = await enrolled(hub, 1);
    const streams = hub.opened.hub.services.streams;
    const stop = queueNoticesEveryTurn(streams);
    try {
      const answer = await call(hub.url, 'GET', `/v1/targets/${agent!.targetId}/envelope`, { token: agent!.token });
      expect(answer.status).toBe(204);
      expect(streams.stats.fetchesWaited).toBe(1);
    } finally {
      stop();
    }
  });
});

describe('the streams’ options', () => {
  it.each([
    ['noticeSliceMs', -1],
    ['fetchWaitMaxMs', Number.NaN],
  ])('refuse %s of %s, naming the option', (name, value) => {
    expect(
      () =>
        new AgentStreams({
          auth: {} as Authenticator,
          tags: { get: () => undefined },
          clock: Date.now,
          log: pino({ level: 'silent' }),
          [name]: value,
        }),
    ).toThrow(new TypeError(`AgentStreams: ${name} must be 0 or more, received ${value}`));
  });
});
