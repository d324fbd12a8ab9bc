import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FLOTILLA, FLOTILLA_AGENT, ROOT, start, type RunningProcess } from './fixtures/cli.ts';
import { startHub } from './fixtures/hub-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';

/** Resolves when nothing listens on `port` any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** The port a hub logged that it listens on (JSON or pretty logs). */
async function listening(hub: RunningProcess): Promise<number> {
  const match = await hub.waitFor(
    /hub listening[\s\S]*?127\.0\.0\.1:(\d+)|127\.0\.0\.1:(\d+)[^\n]*"msg":"hub listening"/,
  );
  return Number(match[1] ?? match[2]);
}

describe('flotilla hub serve, as a process', () => {
  let dir: { path: string; remove: () => void };
  const processes: RunningProcess[] = [];
  const serve = (args: string[], env: Record<string, string> = {}, cwd = dir.path): RunningProcess => {
    const hub = start(process.execPath, [FLOTILLA, ...args], { cwd, env });
    processes.push(hub);
    return hub;
  };

  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    dir?.remove();
  });

  it.each([
    ['hub serve --data-dir DIR', ['hub', 'serve', '--data-dir', 'DIR']],
    ['--data-dir DIR hub serve', ['--data-dir', 'DIR', 'hub', 'serve']],
    ['hub serve --data-dir=DIR', ['hub', 'serve', '--data-dir=DIR']],
  ])('keeps its data where `flotilla %s` says, not in the working directory', async (_, args) => {
    dir = tempDir('flotilla-serve-');
    const dataDir = join(dir.path, 'data');
    const hub = serve([...args.map((a) => a.replace('DIR', dataDir)), '--port', '0']);
    await listening(hub);
    expect(readdirSync(dataDir).sort()).toEqual(['admin-token', 'hub.db', 'hub.db-shm', 'hub.db-wal', 'keys']);
    expect(existsSync(join(dir.path, '.flotilla'))).toBe(false);
  });

  it('reads the data directory from FLOTILLA_DATA_DIR when no flag names one', async () => {
    dir = tempDir('flotilla-serve-');
    const hub = serve(['hub', 'serve', '--port', '0'], { FLOTILLA_DATA_DIR: join(dir.path, 'from-env') });
    await listening(hub);
    expect(existsSync(join(dir.path, 'from-env', 'hub.db'))).toBe(true);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('stops cleanly on %s: exit 0, the port closed', async (signal) => {
    dir = tempDir('flotilla-serve-');
    const hub = serve(['hub', 'serve', '--data-dir', join(dir.path, 'data'), '--port', '0']);
    const port = await listening(hub);
    hub.child.kill(signal);
    expect(await hub.exited).toBe(0);
    expect(hub.stdout()).toContain('"msg":"stopped"');
    expect(await refused(port)).toBe(true);
  });

  it('exits at once on a second signal while the first waits for requests in flight', async () => {
    dir = tempDir('flotilla-serve-');
    const hub = serve(['hub', 'serve', '--data-dir', join(dir.path, 'data'), '--port', '0']);
    const port = await listening(hub);
    // A request whose body never ends: a clean stop waits for it (up to a grace period).
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /v1/enroll HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    hub.child.kill('SIGTERM');
    await hub.waitFor(/"msg":"stopping; send the signal again to exit at once"/);
    // A repeat within half a second counts as the same signal (a terminal and npm both send
    // Ctrl-C), so keep sending until one counts as the second.
    const repeat = setInterval(() => hub.child.kill('SIGTERM'), 100);
    try {
      expect(await hub.exited).toBe(128 + 15);
    } finally {
      clearInterval(repeat);
      socket.destroy();
    }
    expect(hub.stdout()).toContain('"msg":"second signal: exiting without waiting"');
    expect(hub.stdout()).not.toContain('"msg":"stopped"');
  });

  it('logs JSON lines when its output is not a terminal, and readable lines with --log-format pretty', async () => {
    dir = tempDir('flotilla-serve-');
    const json = serve(['hub', 'serve', '--data-dir', join(dir.path, 'a'), '--port', '0']);
    await listening(json);
    const line = json
      .stdout()
      .split('\n')
      .find((l) => l.includes('hub listening'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: 'hub listening', dataDir: join(dir.path, 'a') });
    const pretty = serve(['hub', 'serve', '--data-dir', join(dir.path, 'b'), '--port', '0', '--log-format', 'pretty']);
    await listening(pretty);
    expect(pretty.stdout()).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hub listening\n {4}url: "http:\/\/127\.0\.0\.1:\d+"/m,
    );
    expect(pretty.stdout()).not.toContain('{"level"');
  });

  it('logs readable lines by default on a terminal', async () => {
    dir = tempDir('flotilla-serve-');
    // script(1) gives the hub a pseudo-terminal as its output.
    const command = `exec ${process.execPath} ${FLOTILLA} hub serve --data-dir ${join(dir.path, 'data')} --port 0`;
    const hub = start('script', ['-qfec', command, '/dev/null'], { cwd: dir.path });
    processes.push(hub);
    await hub.waitFor(/INFO.*hub listening/);
    expect(hub.stdout()).not.toContain('{"level"');
  });

  it('runs its container entry point as the Containerfile says, and stops on SIGTERM', async () => {
    dir = tempDir('flotilla-serve-');
    const text = readFileSync(join(ROOT, 'deploy/Containerfile.hub'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(text)![1]!) as string[];
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(text)![1]!) as string[];
    const env = Object.fromEntries(
      [.../^ENV ((?:.+\\\n)*.+)$/m.exec(text)![1]!.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]),
    );
    expect(env).toMatchObject({ FLOTILLA_DATA_DIR: '/var/lib/flotilla', FLOTILLA_PORT: '7070' });
    // As in the image, from its WORKDIR (the repository stands in for /app), with its ENV but
    // a data directory and port of this test's own.
    const [command, ...args] = [...entrypoint, ...cmd];
    const hub = start(command!, args, {
      cwd: ROOT,
      env: { ...env, FLOTILLA_DATA_DIR: join(dir.path, 'data'), FLOTILLA_PORT: '0', FLOTILLA_HOST: '127.0.0.1' },
    });
    processes.push(hub);
    const port = await listening(hub);
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    expect(await refused(port)).toBe(true);
  });

  it('stops when npx flotilla hub serve is sent SIGTERM, instead of leaving the hub running', async () => {
    dir = tempDir('flotilla-serve-');
    const npx = start('npx', ['flotilla', 'hub', 'serve', '--data-dir', join(dir.path, 'data'), '--port', '0'], {
      cwd: ROOT,
    });
    processes.push(npx);
    const port = await listening(npx);
    const hubPid = Number(
      JSON.parse(
        npx
          .stdout()
          .split('\n')
          .find((l) => l.includes('hub listening'))!,
      ).pid,
    );
    expect(hubPid).not.toBe(npx.child.pid);
    // Only npx's own process is signalled, as a process manager does.
    npx.child.kill('SIGTERM');
    await npx.exited;
    expect(npx.stdout()).toContain('"msg":"stopped"');
    expect(await refused(port)).toBe(true);
    expect(() => process.kill(hubPid, 0)).toThrow();
  });
});

describe('flotilla-agent run, as a process', () => {
  it('prints its version, and stops cleanly on SIGTERM', async () => {
    const hub = await startHub();
    const dir = tempDir('flotilla-agent-process-');
    try {
      const agent = start(
        process.execPath,
        [
          FLOTILLA_AGENT,
          'run',
          '--hub',
          hub.url,
          '--enroll-token',
          await hub.enrollmentToken(1),
          '--state-dir',
          join(dir.path, 'state'),
          '--driver',
          'manifests-dir',
          '--root',
          join(dir.path, 'root'),
        ],
        { cwd: dir.path },
      );
      await agent.waitFor(/"msg":"agent started"/);
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
      expect(agent.stdout()).toContain('"msg":"stopped"');
      const version = start(process.execPath, [FLOTILLA_AGENT, '--version']);
      expect(await version.exited).toBe(0);
      expect(version.stdout()).toMatch(/^\d+\.\d+\.\d+\n$/);
    } finally {
      await hub.dispose();
      dir.remove();
    }
  });
});
