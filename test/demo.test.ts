import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flotilla, ROOT, start, type RunningProcess } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

/** A port something else holds, as another program would hold 7070. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('npm start: the demo', () => {
  let dir: { path: string; remove: () => void };
  let env: Record<string, string>;
  let busy: { port: number; server: Server };

  beforeAll(async () => {
    dir = tempDir('flotilla-demo-');
    busy = await busyPort();
    env = {
      FLOTILLA_DEMO_DIR: join(dir.path, 'demo'),
      FLOTILLA_DEMO_AGENTS: '2',
      HOME: dir.path,
      XDG_CONFIG_HOME: join(dir.path, 'config'),
    };
  });

  afterAll(() => {
    busy.server.close();
    dir.remove();
  });

  const demo = (port: number, detached = false): RunningProcess =>
    start('npm', ['start'], { cwd: ROOT, env: { ...env, FLOTILLA_PORT: String(port) }, detached });

  it('says the port it wanted is busy and which it took, saves a context, and stops on SIGTERM to npm', async () => {
    const run = demo(busy.port);
    try {
      const [, url] = await run.waitFor(/Flotilla hub listening on (http:\/\/127\.0\.0\.1:\d+)/);
      await run.waitFor(/Press Ctrl-C to stop/);
      const port = new URL(url!).port;
      expect(run.stderr()).toContain(
        `demo: port ${busy.port} is busy (another demo or hub?), so the hub took port ${port} instead\n`,
      );
      expect(run.stdout()).toContain(
        `  note:        port ${busy.port} is busy (another demo or hub?), so the hub took port ${port} instead\n`,
      );
      expect(run.stdout()).toContain(
        `  context:     demo, saved in ${join(dir.path, 'config', 'flotilla', 'config.yaml')} and in use\n`,
      );
      expect(run.stdout()).toContain(', running hello@1.0.0\n');
      // The context is enough: no export line, no flags.
      const listed = await flotilla(['targets', 'ls'], env);
      expect(listed.stdout).toMatch(/edge-1/);
      // Move the fleet on, as the banner suggests.
      const key = join(dir.path, 'demo', 'release-key.json');
      const published = await flotilla(
        ['release', 'publish', 'examples/hello', '--name', 'hello', '--version', '1.1.0', '--key', key],
        env,
        { cwd: ROOT },
      );
      expect(published.stderr).toBe('');
      for (const name of ['edge-1', 'edge-2'])
        expect((await flotilla(['assign', name, 'hello@1.1.0'], env)).code).toBe(0);
      await waitFor('the fleet to report hello@1.1.0', async () => {
        const page = JSON.parse(
          (await flotilla(['targets', 'ls', '-q', 'running.hello=1.1.0', '-o', 'json'], env)).stdout,
        );
        return (page as { items: unknown[] }).items.length === 2;
      });
      // A process manager signals npm's own process only; npm passes it on to the demo.
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('shows what the fleet runs after a restart, and stops cleanly on a Ctrl-C to the whole process group', async () => {
    const run = demo(0, true);
    try {
      await run.waitFor(/Press Ctrl-C to stop/);
      expect(run.stdout()).toContain(', running hello@1.1.0\n');
      expect(run.stdout()).toContain('--name hello --version 1.2.0 --key');
      expect(run.stdout()).not.toContain('is busy');
      // A terminal sends Ctrl-C to npm and the demo alike, and npm passes it on too: the demo
      // takes the two as one, and stops cleanly.
      process.kill(-run.child.pid!, 'SIGINT');
      expect(await run.exited).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});
