import { Worker } from 'node:worker_threads';

// The relay runs in its own thread: the store's calls block this one while they wait for the server.
const RELAY = `
const { createServer, connect } = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const sockets = new Set();
let server;
let port = 0;
parentPort.on('message', (command) => {
  if (command === 'up') {
    server = createServer((client) => {
      const upstream = connect(workerData.port, workerData.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1', () => {
      port = server.address().port;
      parentPort.postMessage(port);
    });
  } else {
    for (const socket of sockets) socket.destroy();
    if (server === undefined) return parentPort.postMessage(port);
    server.close(() => parentPort.postMessage(port));
    server = undefined;
  }
});
`;

/**
 * A TCP relay between a hub's store and PostgreSQL that a test takes down and brings back:
 * what a server restart or a network failure looks like from the hub, without stopping the
 * PostgreSQL that other tests use. Connect through `127.0.0.1:port` once `up()` resolved.
 */
export class PostgresRelay {
  private readonly worker: Worker;
  port = 0;

  constructor(upstream: { host: string; port: number }) {
    this.worker = new Worker(RELAY, { eval: true, workerData: upstream });
  }

  private command(command: 'up' | 'down'): Promise<void> {
    return new Promise((resolve) => {
      this.worker.once('message', (port: number) => {
        this.port = port;
        resolve();
      });
      this.worker.postMessage(command);
    });
  }

  up(): Promise<void> {
    return this.command('up');
  }

  /** Cuts every connection and refuses new ones. */
  down(): Promise<void> {
    return this.command('down');
  }

  async stop(): Promise<void> {
    await this.down();
    await this.worker.terminate();
  }
}
