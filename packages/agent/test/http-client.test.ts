import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../src/http-client.ts';

/** A real server on port 0 that counts the connections it accepted. */
interface TestServer {
  readonly url: string;
  readonly connections: Socket[];
}

const servers: Server[] = [];
const clients: HttpClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections?.();
    server.close();
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const connections: Socket[] = [];
  const server = createServer(handler);
  // The server keeps idle connections open: closing them is the client's part.
  server.keepAliveTimeout = 0;
  server.on('connection', (socket: Socket) => connections.push(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections };
}

function client(options: ConstructorParameters<typeof HttpClient>[0] = {}): HttpClient {
  const made = new HttpClient(options);
  clients.push(made);
  return made;
}

/** A promise and the function that settles it, for a server to wait on the test. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('connections', () => {
  it('sends requests one after another over one kept connection', async () => {
    const server = await serve((req, res) => res.end(req.url));
    const http = client();
    expect(await (await http.request(`${server.url}/a`)).text()).toBe('/a');
    expect(await (await http.request(`${server.url}/b`)).text()).toBe('/b');
    expect(server.connections).toHaveLength(1);
  });

  it('closes a connection once it has been idle for keepAliveMs', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const http = client({ keepAliveMs: 20 });
    await (await http.request(server.url)).text();
    const closed = new Promise<void>((resolve) => server.connections[0]!.once('close', () => resolve()));
    await expect(closed).resolves.toBeUndefined();
  });

  it('waits for an answer longer than keepAliveMs, as a long-poll does', async () => {
    // Answers only after the connection has been quiet for several keep-alive periods.
    const server = await serve((_req, res) => setTimeout(() => res.end('late'), 200));
    const http = client({ keepAliveMs: 20 });
    expect(await (await http.request(server.url)).text()).toBe('late');
  });

  it('sends a request again on a new connection when the server closed the kept one as it went out', async () => {
    let seen = 0;
    const server = await serve((req, res) => {
      seen += 1;
      // The second request, on the first connection: as a server that timed the connection out.
      if (seen === 2) req.socket.destroy();
      else res.end(`answer ${seen}`);
    });
    const http = client();
    await (await http.request(server.url)).text();
    expect(await (await http.request(server.url, { method: 'POST', body: '{}' })).text()).toBe('answer 3');
    expect(server.connections).toHaveLength(2);
  });

  it('does not send a request again when a new connection fails', async () => {
    let seen = 0;
    const server = await serve((req) => {
      seen += 1;
      req.socket.destroy();
    });
    await expect(client().request(server.url)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(seen).toBe(1);
  });

  it('names the refused connection', async () => {
    const server = await serve((_req, res) => res.end());
    const url = server.url;
    servers.splice(0).forEach((s) => s.close());
    await expect(client().request(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('requests and answers', () => {
  it("sends a body with its length, and gives the answer's status, headers and body", async () => {
    const server = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        res.writeHead(201, {
          'x-seen': `${req.method} ${req.headers['content-length']} ${String(req.headers['x-mine'])}`,
        });
        res.end(`${req.headers['transfer-encoding'] ?? 'no chunks'}: ${body}`);
      });
    });
    const answer = await client().request(server.url, {
      method: 'PATCH',
      headers: { 'x-mine': 'yes' },
      body: '{"name":"\u00e9t\u00e9"}',
    });
    expect(answer.status).toBe(201);
    // Its length in bytes: two each for the accented letters.
    expect(answer.headers['x-seen']).toBe('PATCH 16 yes');
    expect(await answer.text()).toBe('no chunks: {"name":"\u00e9t\u00e9"}');
  });

  it('reads a body as it arrives, and lets the caller drop the rest', async () => {
    const server = await serve((_req, res) => {
      res.write('first');
      // Never ends: the caller stops reading.
    });
    const answer = await client().request(server.url);
    const dropped = new Promise<void>((resolve) => server.connections[0]!.once('close', () => resolve()));
    for await (const chunk of answer.body) {
      expect(String(chunk)).toBe('first');
      break;
    }
    await expect(dropped).resolves.toBeUndefined();
  });

  it('discards a body it is told to', async () => {
    const server = await serve((_req, res) => res.end('x'.repeat(100_000)));
    const http = client();
    await (await http.request(server.url)).dump();
    expect(await (await http.request(server.url)).text()).toHaveLength(100_000);
    expect(server.connections).toHaveLength(1);
  });

  it('fails reading a body the server cut short', async () => {
    const server = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('half');
      setImmediate(() => req.socket.destroy());
    });
    const answer = await client().request(server.url);
    await expect(answer.text()).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});

describe('timeouts', () => {
  it('gives up on an answer whose headers do not come within headersTimeoutMs', async () => {
    const server = await serve(() => {});
    await expect(client({ headersTimeoutMs: 50 }).request(server.url)).rejects.toMatchObject({
      code: 'HTTP_HEADERS_TIMEOUT',
      message: expect.stringContaining('50 ms'),
    });
  });

  it("takes a request's own headersTimeoutMs over the client's", async () => {
    const server = await serve(() => {});
    await expect(client().request(server.url, { headersTimeoutMs: 50 })).rejects.toMatchObject({
      code: 'HTTP_HEADERS_TIMEOUT',
    });
  });

  it('gives up on a body that stalls for bodyTimeoutMs, and not on one that keeps coming', async () => {
    const stall = await serve((_req, res) => res.write('some'));
    await expect(
      (await client({ bodyTimeoutMs: 50, keepAliveMs: 60_000 }).request(stall.url)).text(),
    ).rejects.toMatchObject({
      code: 'HTTP_BODY_TIMEOUT',
    });
  });

  it('gives up on a connection whose TLS handshake does not finish within connectTimeoutMs', async () => {
    // Accepts connections and says nothing: a TLS client waits for the server's hello forever.
    const silent = createTcpServer(() => {});
    const sockets: Socket[] = [];
    silent.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      await expect(
        client({ connectTimeoutMs: 50, headersTimeoutMs: 60_000 }).request(`https://127.0.0.1:${port}/`),
      ).rejects.toMatchObject({ code: 'HTTP_CONNECT_TIMEOUT' });
    } finally {
      sockets.forEach((socket) => socket.destroy());
      silent.close();
    }
  });
});

describe('abort signals', () => {
  it('stops waiting for the answer when the signal aborts', async () => {
    const arrived = gate();
    const server = await serve(() => arrived.open());
    const abort = new AbortController();
    const answer = client().request(server.url, { signal: abort.signal });
    await arrived.opened;
    abort.abort();
    await expect(answer).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('sends nothing for a signal aborted already', async () => {
    let seen = 0;
    const server = await serve((_req, res) => {
      seen += 1;
      res.end();
    });
    await expect(client().request(server.url, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    await (await client().request(server.url)).dump();
    expect(seen).toBe(1);
  });

  it('stops reading the body when the signal aborts', async () => {
    const server = await serve((_req, res) => res.write('some'));
    const abort = new AbortController();
    const answer = await client().request(server.url, { signal: abort.signal });
    const text = answer.text();
    abort.abort();
    await expect(text).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('close', () => {
  it('lets the request in flight finish, then closes the connections', async () => {
    const answered = gate();
    const arrived = gate();
    const server = await serve((_req, res) => {
      arrived.open();
      void answered.opened.then(() => res.end('late'));
    });
    const http = new HttpClient();
    const answer = http.request(server.url);
    await arrived.opened;
    const closed = http.close();
    answered.open();
    expect(await (await answer).text()).toBe('late');
    await closed;
    await expect(
      new Promise<void>((resolve) => {
        if (server.connections[0]!.destroyed) resolve();
        else server.connections[0]!.once('close', () => resolve());
      }),
    ).resolves.toBeUndefined();
  });

  it('refuses requests once closed', async () => {
    const http = new HttpClient();
    await http.close();
    await expect(http.request('http://127.0.0.1:1/')).rejects.toMatchObject({ code: 'HTTP_CLIENT_CLOSED' });
  });
});

describe('options', () => {
  it.each([
    [{ connectTimeoutMs: 0 }, 'connectTimeoutMs'],
    [{ headersTimeoutMs: -1 }, 'headersTimeoutMs'],
    [{ bodyTimeoutMs: Number.NaN }, 'bodyTimeoutMs'],
    [{ keepAliveMs: Number.POSITIVE_INFINITY }, 'keepAliveMs'],
  ])('refuses %o, naming the option', (options, name) => {
    expect(() => new HttpClient(options)).toThrow(new RegExp(`^HttpClient: ${name} must be`));
  });

  it.each(['ftp://example.com/', 'not a url'])('refuses the URL %s', async (url) => {
    await expect(client().request(url)).rejects.toBeInstanceOf(TypeError);
  });
});
