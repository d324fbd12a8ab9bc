import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, ROOT, start, type RunningProcess } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';

function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: childEnv(options.env), timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

describe('the packed packages, installed into an empty prefix', () => {
  const dir = tempDir('flotilla-pack-');
  const running: RunningProcess[] = [];

  afterAll(async () => {
    for (const p of running) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    dir.remove();
  });

  it('run from there, without tsx or the repository: hub, dashboard, CLI and agent', async () => {
    const packs = join(dir.path, 'packs');
    const prefix = join(dir.path, 'prefix');
    const work = join(dir.path, 'work');
    for (const d of [packs, prefix, work]) mkdirSync(d);
    const packed = await run(
      'npm',
      [
        'pack',
        ...['protocol', 'runtime', 'dashboard', 'hub', 'agent'].flatMap((p) => ['-w', `@flotilla/${p}`]),
        '--pack-destination',
        packs,
        '--silent',
      ],
      { cwd: ROOT },
    );
    expect(packed.code, packed.stderr).toBe(0);
    const tarballs = readdirSync(packs).map((f) => join(packs, f));
    expect(tarballs).toHaveLength(5);
    // No install scripts and no network: better-sqlite3's script compiles SQLite for about two
    // minutes here, so the test copies the binary this clone already built (same Node, same
    // machine) instead. The dependencies come from npm's cache, which npm ci filled; only on a
    // machine whose cache lacks the registry's metadata for their version ranges (npm ci reads
    // the lockfile, not the metadata) does npm ask the registry, once.
    const install = (mode: string) =>
      run('npm', ['install', '--prefix', prefix, '--ignore-scripts', mode, '--no-audit', '--no-fund', ...tarballs], {
        cwd: work,
      });
    let installed = await install('--offline');
    if (installed.code !== 0 && installed.stderr.includes('ENOTCACHED')) installed = await install('--prefer-offline');
    expect(installed.code, installed.stderr).toBe(0);
    const release = join(prefix, 'node_modules', 'better-sqlite3', 'build', 'Release');
    mkdirSync(release, { recursive: true });
    copyFileSync(
      join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'),
      join(release, 'better_sqlite3.node'),
    );
    expect(existsSync(join(prefix, 'node_modules', 'tsx'))).toBe(false);

    // From a folder outside the repository, with nothing of it on any path.
    const bin = (name: string): string => join(prefix, 'node_modules', '.bin', name);
    expect((await run(bin('flotilla'), ['--version'], { cwd: work })).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const hub = start(bin('flotilla'), ['hub', 'serve', '--data-dir', join(work, 'data'), '--port', '0'], {
      cwd: work,
    });
    running.push(hub);
    const [, url] = await hub.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
    const page = await request(`${url!}/`);
    expect(page.statusCode).toBe(200);
    expect(await page.body.text()).toContain('<div id="app"');
    const env = { FLOTILLA_HUB: url!, FLOTILLA_TOKEN_FILE: join(work, 'data', 'admin-token') };
    const token = await run(bin('flotilla'), ['enroll-token', 'create', '-o', 'json'], { cwd: work, env });
    expect(token.stderr).toBe('');
    const manifests = await run(
      bin('flotilla'),
      ['install', 'agent', '--enroll-token', 't', '--hub', 'https://hub.example.com'],
      {
        cwd: work,
      },
    );
    expect(manifests.stdout).toContain('kind: DaemonSet');
    const agent = start(
      bin('flotilla-agent'),
      [
        'run',
        '--hub',
        url!,
        '--enroll-token',
        (JSON.parse(token.stdout) as { token: string }).token,
        '--state-dir',
        join(work, 'agent'),
        '--driver',
        'manifests-dir',
        '--root',
        join(work, 'root'),
      ],
      { cwd: work },
    );
    running.push(agent);
    await agent.waitFor(/"msg":"agent started"/);
    for (const p of [agent, hub]) {
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  });
});
