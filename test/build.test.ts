import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '@flotilla/protocol';
import { tempDir } from './fixtures/temp-dir.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The modules an agent start loads, in the order it loads them: `flotilla-agent --help`, traced. */
function modulesAnAgentStartLoads(): string[] {
  const dir = tempDir('flotilla-trace-');
  const trace = join(dir.path, 'modules');
  try {
    execFileSync(
      process.execPath,
      ['--import', join(ROOT, 'test/fixtures/trace-modules.mjs'), 'packages/agent/bin/flotilla-agent.js', '--help'],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', FLOTILLA_TRACE_MODULES: trace } },
    );
    return readFileSync(trace, 'utf8').trim().split('\n');
  } finally {
    dir.remove();
  }
}

/** The sources (by the bundle's source maps) of every bundle chunk an agent start reads. */
function sourcesAnAgentStartReads(): string[] {
  return modulesAnAgentStartLoads()
    .filter((file) => file.includes('/dist/bundle/'))
    .flatMap(
      (file) => (JSON.parse(readFileSync(`${fileURLToPath(file)}.map`, 'utf8')) as { sources: string[] }).sources,
    );
}

describe('the build and how each tool finds it', () => {
  it("has tests import the packages' TypeScript sources, not their build", () => {
    // A stack frame inside the protocol package names the file the test runner loaded.
    let stack = '';
    try {
      canonicalize(1n);
    } catch (error) {
      stack = (error as Error).stack ?? '';
    }
    expect(stack).toContain('packages/protocol/src/canonical-json.ts');
    expect(stack).not.toContain('packages/protocol/dist/');
  });

  it('has Node resolve each package to its JavaScript build', () => {
    const resolved = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "for (const name of ['@flotilla/protocol', '@flotilla/protocol/api', '@flotilla/hub', '@flotilla/agent']) console.log(import.meta.resolve(name));",
      ],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(resolved.trim().split('\n')).toEqual([
      expect.stringMatching(/\/packages\/protocol\/dist\/index\.js$/),
      expect.stringMatching(/\/packages\/protocol\/dist\/api\/index\.js$/),
      expect.stringMatching(/\/packages\/hub\/dist\/index\.js$/),
      expect.stringMatching(/\/packages\/agent\/dist\/index\.js$/),
    ]);
  });

  it('runs both bins from the build, with the SQL migrations beside the store', () => {
    for (const bin of ['packages/hub/bin/flotilla.js', 'packages/agent/bin/flotilla-agent.js']) {
      const help = execFileSync(process.execPath, [bin, '--help'], { cwd: ROOT, encoding: 'utf8' });
      expect(help).toMatch(/^Usage: flotilla/);
    }
    expect(execFileSync('ls', ['packages/hub/dist/store/migrations'], { cwd: ROOT, encoding: 'utf8' })).toContain(
      '001-core.sql',
    );
  });

  it('runs the agent from its bundle, loading no module of its build or its dependencies, nor its rare paths', () => {
    const loaded = modulesAnAgentStartLoads();
    expect(loaded.slice(0, 2)).toEqual([
      expect.stringMatching(/\/packages\/agent\/bin\/flotilla-agent\.js$/),
      expect.stringMatching(/\/packages\/agent\/dist\/bundle\/flotilla-agent\.js$/),
    ]);
    // The rest are the chunks every start needs; what only some runs take stays unread.
    for (const file of loaded.slice(2)) {
      expect(file).toMatch(/\/packages\/agent\/dist\/bundle\/chunks\/chunk-[A-Z0-9]+\.js$/);
    }
    const chunks = readdirSync(join(ROOT, 'packages/agent/dist/bundle/chunks'));
    for (const lazy of ['policy', 'agent-metrics', 'offline-command', 'pino-pretty'])
      expect(chunks.some((name) => name.startsWith(`${lazy}-`))).toBe(true);
  });

  it("leaves the browser's Ed25519 and an air-gapped site's code out of what every agent start reads", () => {
    const bundled = sourcesAnAgentStartReads();
    expect(bundled).toContainEqual(expect.stringContaining('protocol/dist/crypto/ed25519.js'));
    expect(bundled).not.toContainEqual(expect.stringContaining('node_modules/tweetnacl/'));
    expect(bundled).not.toContainEqual(expect.stringContaining('agent/dist/offline/offline-site.js'));
    expect(bundled).not.toContainEqual(expect.stringContaining('protocol/dist/offline/read-transfer.js'));
  });

  it('speaks HTTP through node:http at every agent start, reading none of undici (nor its WebAssembly parser)', () => {
    const bundled = sourcesAnAgentStartReads();
    expect(bundled).toContainEqual(expect.stringMatching(/\/hub-client\.js$/));
    expect(bundled).toContainEqual(expect.stringMatching(/\/drivers\/kubernetes\/kube-client\.js$/));
    expect(bundled).not.toContainEqual(expect.stringContaining('node_modules/undici/'));
  });

  it("leaves undici's HTTP/2 client, and with it node:http2, out of the agent's bundle", () => {
    const dir = join(ROOT, 'packages/agent/dist/bundle');
    const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.js.map'))
      .flatMap((name) => (JSON.parse(readFileSync(join(dir, name), 'utf8')) as { sources: string[] }).sources);
    expect(sources).toContainEqual(expect.stringContaining('node_modules/undici/lib/dispatcher/client.js'));
    expect(sources).not.toContainEqual(expect.stringContaining('node_modules/undici/lib/dispatcher/client-h2.js'));
  });

  it("bundles zod's English messages into the agent and none of its other languages", () => {
    const dir = join(ROOT, 'packages/agent/dist/bundle');
    const bundle = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.js'))
      .map((name) => readFileSync(join(dir, name), 'utf8'))
      .join('\n');
    // One word from zod's English messages, one from its German ones.
    expect(bundle).toContain('credit card number');
    expect(bundle).not.toContain('Kreditkartennummer');
  });
});
