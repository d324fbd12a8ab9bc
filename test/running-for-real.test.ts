import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, ROOT, start, type RunningProcess } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { execFile } from 'node:child_process';

/** The commands of the README's "Running it for real" block, joined across `\` and without comments. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Running it for real'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function sh(command: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { cwd: ROOT, env: childEnv(env), timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

describe("the README's Running it for real", () => {
  const dir = tempDir('flotilla-for-real-');
  const running: RunningProcess[] = [];

  afterAll(async () => {
    for (const p of running) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
    dir.remove();
  });

  it('works as written: hub, login, keys, enrollment token, agent, publish, rollout', async () => {
    const port = await freePort();
    const hubUrl = `http://127.0.0.1:${port}`;
    // Only what makes it run here: paths, loopback, and this test's port and config folder.
    const places: [string, string][] = [
      ['/var/lib/flotilla-agent', join(dir.path, 'agent-state')],
      ['/var/lib/flotilla', join(dir.path, 'hub-data')],
      ['/etc/kubernetes/manifests', join(dir.path, 'manifests')],
      ['release-key.json', join(dir.path, 'release-key.json')],
      ['https://hub.example.com', hubUrl],
      ['--host 0.0.0.0 --port 7070', `--host 127.0.0.1 --port ${port}`],
    ];
    const env = { HOME: dir.path, XDG_CONFIG_HOME: join(dir.path, 'config') };
    const outputs: string[] = [];
    let enrollToken = '';
    let rolloutId = '';
    const commands = readmeCommands();
    expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'npx flotilla hub',
      'npx flotilla login',
      'npx flotilla keys',
      'npx flotilla keys',
      'npx flotilla enroll-token',
      'npx flotilla-agent run',
      'npx flotilla release',
      'npx flotilla rollout',
      'npx flotilla rollout',
    ]);
    for (const written of commands) {
      let command = written;
      for (const [from, to] of places) command = command.replaceAll(from, to);
      command = command.replaceAll('fl_enroll_…', enrollToken).replaceAll('ro_…', rolloutId);
      if (/flotilla hub serve|flotilla-agent run/.test(command)) {
        const process_ = start('bash', ['-c', `exec ${command}`], { env });
        running.push(process_);
        await process_.waitFor(command.includes('hub serve') ? /"msg":"hub listening"/ : /"msg":"agent started"/);
        continue;
      }
      const result = await sh(command, env);
      expect({ command, code: result.code, stderr: result.stderr }).toEqual({ command, code: 0, stderr: '' });
      outputs.push(result.stdout);
      enrollToken ||= /\bfl_enroll_\S+/.exec(result.stdout)?.[0] ?? '';
      rolloutId ||= /created rollout (\S+)/.exec(result.stdout)?.[1] ?? '';
    }
    // The rollout finished, and the agent wrote the release's manifests where it was told.
    expect(outputs.at(-1)).toMatch(/rollout \S+ +hello@1\.0\.0 +completed/);
    const manifests = join(dir.path, 'manifests');
    expect(existsSync(manifests) && readdirSync(manifests).length).toBeGreaterThan(0);
  });
});
