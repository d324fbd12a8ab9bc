import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/drivers/kubernetes/kube-client.ts';

let server: Server | undefined;
let kube: KubeClient | undefined;

afterEach(async () => {
  await kube?.close();
  server?.closeAllConnections();
  server?.close();
  kube = undefined;
  server = undefined;
});

async function apiServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('an API server that fails mid-answer', () => {
  it('is unreachable when it cuts an answer short, so the pass is retried', async () => {
    const url = await apiServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"gitVersion":');
      setImmediate(() => req.socket.destroy());
    });
    kube = new KubeClient({ server: url });
    await expect(kube.call('GET', '/version')).rejects.toMatchObject({
      code: 'KUBE_UNREACHABLE',
      details: { cause: 'ECONNRESET' },
    });
  });

  it('is unreachable when it sends no answer within timeoutMs', async () => {
    const url = await apiServer(() => {});
    kube = new KubeClient({ server: url }, { timeoutMs: 50 });
    await expect(kube.call('GET', '/version')).rejects.toMatchObject({
      code: 'KUBE_UNREACHABLE',
      details: { cause: 'HTTP_HEADERS_TIMEOUT' },
    });
  });
});
