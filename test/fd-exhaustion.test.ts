import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { API_VERSION, signPayload, type Report } from '@flotilla/protocol';
import { ProtocolAgent, type TestHub } from '../packages/hub/test/support.ts';
import { FLOTILLA, start, type RunningProcess } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';

const FD_LIMIT = 320;

/**
 * Sends one request on an open connection and resolves with its status line, or with "closed" when
 * the hub closes the connection instead, including before the request (once it has closed, no
 * 'close' event would come).
 */
function ask(socket: Socket, method: string, path: string, token: string, body?: string): Promise<string> {
  return new Promise((resolve) => {
    if (socket.closed) {
      resolve('closed before the request');
      return;
    }
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (text.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve(`${text.slice(0, text.indexOf('\r\n'))} ${text.slice(end + 4)}`);
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(`closed ${text}`));
    socket.write(
      `${method} ${path} HTTP/1.1\r\nhost: hub\r\nauthorization: Bearer ${token}\r\n` +
        (body === undefined
          ? '\r\n'
          : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
    );
  });
}

function open(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', () => resolve(undefined));
  });
}

describe('a hub out of file descriptors', () => {
  let dir: { path: string; remove: () => void } | undefined;
  let hub: RunningProcess | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    hub?.child.kill('SIGKILL');
    await hub?.exited;
    dir?.remove();
  });

  it('refuses new connections and still answers every request on the connections it accepted', async () => {
    dir = tempDir('flotilla-fds-');
    const dataDir = join(dir.path, 'data');
    // A connection cap above the open-file limit, as when an operator set one too high: the
    // descriptors run out before the cap is reached.
    hub = start('prlimit', [`--nofile=${FD_LIMIT}:${FD_LIMIT}`, process.execPath, FLOTILLA, 'hub', 'serve'], {
      env: { FLOTILLA_DATA_DIR: dataDir, FLOTILLA_PORT: '0', FLOTILLA_MAX_CONNECTIONS: '10000' },
    });
    const match = await hub.waitFor(
      /hub listening[\s\S]*?127\.0\.0\.1:(\d+)|127\.0\.0\.1:(\d+)[^\n]*"msg":"hub listening"/,
    );
    const port = Number(match[1] ?? match[2]);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();

    // An agent enrolled and holding its access token before the descriptors run out.
    const url = `http://127.0.0.1:${port}`;
    const agent = new ProtocolAgent({ url } as TestHub);
    const created = await ask(
      (await open(port))!,
      'POST',
      '/v1/enrollment-tokens',
      token,
      JSON.stringify({ maxUses: 1, ttlSeconds: 600 }),
    );
    await agent.enroll(JSON.parse(created.slice(created.indexOf('{'))).token, 'site', Date.now());
    const accessToken = await agent.accessToken(Date.now());
    const report = (seq: number): string => {
      const body: Report = {
        apiVersion: API_VERSION,
        kind: 'Report',
        targetId: agent.targetId,
        seq,
        generation: 0,
        phase: 'applied',
        health: 'healthy',
        bundles: [],
        resources: [],
        facts: { driver: 'test', padding: 'x'.repeat(3000) },
        observedAt: new Date().toISOString(),
      };
      return JSON.stringify({ report: body, signature: signPayload('report', body, agent.key) });
    };

    const accepted = (await open(port))!;
    sockets.push(accepted);
    // Connections for a burst of reports that commit together in one grouped transaction.
    const burst: Socket[] = [];
    for (let i = 0; i < 250; i++) burst.push((await open(port))!);
    sockets.push(...burst);
    expect(await ask(accepted, 'GET', '/v1/targets?limit=1', token)).toMatch(/^HTTP\/1.1 200/);

    // Every descriptor the hub has left goes to connections that only wait.
    let refused = 0;
    for (let i = 0; i < FD_LIMIT * 2 && refused < 5; i++) {
      const socket = await open(port);
      if (socket === undefined) refused++;
      else {
        sockets.push(socket);
        const closed = await Promise.race([
          new Promise((resolve) => socket.once('close', () => resolve(true))),
          new Promise((resolve) => setTimeout(() => resolve(false), 50)),
        ]);
        if (closed === true) refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);

    // The connection accepted before still gets answers, writes included, never a 500.
    const write = await ask(
      accepted,
      'POST',
      '/v1/enrollment-tokens',
      token,
      JSON.stringify({ maxUses: 1, ttlSeconds: 60 }),
    );
    expect(write).toMatch(/^HTTP\/1.1 201/);
    const answers = await Promise.all(
      burst.map((socket, i) =>
        ask(socket, 'POST', `/v1/targets/${agent.targetId}/reports`, accessToken, report(i + 1)),
      ),
    );
    expect(answers.filter((answer) => !answer.startsWith('HTTP/1.1 201'))).toEqual([]);
    expect(await ask(accepted, 'GET', '/v1/targets?q=status%3Dactive&limit=10', token)).toMatch(/^HTTP\/1.1 200/);
    expect(await ask(accepted, 'GET', '/v1/audit?limit=50', token)).toMatch(/^HTTP\/1.1 200/);

    // Once connections close, new ones are taken again.
    for (const socket of sockets.splice(1)) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const later = (await open(port))!;
    sockets.push(later);
    expect(await ask(later, 'GET', '/v1/health', token)).toMatch(/^HTTP\/1.1 200/);
    expect(hub.child.exitCode).toBeNull();
  }, 60_000);
});
