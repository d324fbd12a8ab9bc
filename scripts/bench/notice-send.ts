/**
 * What one `changed` notice costs the hub's event loop: N WebSocket clients in a process of
 * their own on loopback, and the server sending each the notice, alternately with `ws.send`
 * (a frame built for every stream, header and payload written through cork and uncork) and
 * with the hub's shared frame written once per socket (`features/stream/shared-frame.ts`).
 * Each round times the loop over all N sends and waits until every client has the notice.
 *
 * Figures: µs per notice, the median of the rounds, for each way, and their ratio.
 * Options: `--agents N` (or BENCH_AGENTS; 6000 clients), BENCH_ROUNDS (10, alternated).
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { sharedTextFrame, writeSharedFrame } from '../../packages/hub/src/features/stream/shared-frame.ts';
import { agentCount } from './_hub-process.ts';

const NOTICE = '{"type":"changed"}';

if (process.argv[2] === 'clients') {
  const [, , , url, countText] = process.argv;
  const count = Number(countText);
  let open = 0;
  let heard = 0;
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(url!, { perMessageDeflate: false });
    ws.on('open', () => {
      if (++open === count) process.send!('open');
    });
    ws.on('message', (data: Buffer) => {
      if (data.toString('utf8') !== NOTICE) throw new Error(`unexpected message ${data.toString('utf8')}`);
      if (++heard % count === 0) process.send!('heard');
    });
  }
} else {
  const clients = agentCount(6000);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 10);
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const streams: { ws: WebSocket; socket: Duplex }[] = [];
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => streams.push({ ws, socket })),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const proc = fork(fileURLToPath(import.meta.url), ['clients', url, String(clients)], {
    execArgv: ['--import', 'tsx'],
  });
  const nextMessage = (): Promise<unknown> => new Promise((resolve) => proc.once('message', resolve));
  await nextMessage();
  const payload = Buffer.from(NOTICE);
  const frame = sharedTextFrame(NOTICE);
  const ways: Record<string, (s: { ws: WebSocket; socket: Duplex }) => void> = {
    ws_send: (s) => s.ws.send(payload, { binary: false }),
    shared_frame: (s) => writeSharedFrame(s.ws, s.socket, frame),
  };
  const us: Record<string, number[]> = { ws_send: [], shared_frame: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['ws_send', 'shared_frame'] : ['shared_frame', 'ws_send'];
    for (const way of order) {
      const heard = nextMessage();
      const started = performance.now();
      for (const stream of streams) ways[way]!(stream);
      us[way]!.push(((performance.now() - started) * 1000) / clients);
      await heard;
    }
  }
  proc.kill();
  server.close();
  const median = (xs: number[]): number => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const round1 = (x: number): number => Number(x.toFixed(1));
  process.stderr.write(
    `µs per notice by round: ${JSON.stringify(us, (_, v: unknown) => (typeof v === 'number' ? round1(v) : v))}\n`,
  );
  process.stdout.write(
    `${JSON.stringify({
      name: 'notice-send',
      clients,
      rounds,
      ws_send_us: round1(median(us['ws_send']!)),
      shared_frame_us: round1(median(us['shared_frame']!)),
      ratio: round1((median(us['shared_frame']!) / median(us['ws_send']!)) * 100) / 100,
    })}\n`,
  );
  process.exit(0);
}
