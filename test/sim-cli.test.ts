import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, ROOT, type CliResult } from './fixtures/cli.ts';
import { api, configMap, startHub, type HubFixture } from './fixtures/hub-fixture.ts';

/*
 * `npm run sim`, the fleet simulator as a tool for sizing a hub (docs/operations.md, "Sizing a
 * hub with the fleet simulator"): run as an operator runs it, against a real hub on loopback.
 */

const SIM = join(ROOT, 'scripts/sim.ts');
const NODE_ARGS = ['--conditions=@flotilla/source', '--import', 'tsx', SIM];
/** tsx's compile cache would stay behind in the temporary folder; the simulator's processes inherit this. */
const ENV = childEnv({ TSX_DISABLE_CACHE: '1' });

function sim(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, ...args],
      { cwd: ROOT, env: ENV, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

const HINT = "; 'npm run sim -- --help' shows the options";
const NEEDED = ['--agents', '5', '--hub', 'http://127.0.0.1:1', '--enroll-token', 'fl_enroll_x'];

describe.concurrent('npm run sim refuses what it cannot run', () => {
  it.each([
    [
      ['--agents', '0', '--hub', 'http://h', '--enroll-token', 't'],
      "--agents must be a whole number from 1, received '0'",
    ],
    [
      ['--agents', 'many', '--hub', 'http://h', '--enroll-token', 't'],
      "--agents must be a whole number from 1, received 'many'",
    ],
    [['--agents', '5', '--enroll-token', 't'], '--hub URL is required'],
    [['--agents', '5', '--hub', 'ftp://h', '--enroll-token', 't'], "--hub must be an http(s) URL, received 'ftp://h'"],
    [[...NEEDED, '--interval-seconds', '0'], "--interval-seconds must be a whole number from 1, received '0'"],
    [[...NEEDED, '--transport', 'grpc'], "--transport must be auto or long-poll, received 'grpc'"],
    [[...NEEDED, '--agent', '3'], "Unknown option '--agent'"],
    [[...NEEDED, 'extra'], "Unexpected argument 'extra'"],
  ])('answers %j with one line and a hint, and exits 2', async (args, problem) => {
    expect(await sim(args)).toEqual({ code: 2, stdout: '', stderr: `sim: ${problem}${HINT}\n` });
  });

  it('prints its options and what each line says with --help', async () => {
    const run = await sim(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^usage: npm run sim -- --agents N --hub URL --enroll-token TOKEN/);
    expect(run.stdout).toContain('[--interval-seconds 10]');
    expect(run.stderr).toBe('');
  });
});

/** One line of `npm run sim -- --json`. */
interface SimLine {
  readonly streams_open: number;
  readonly errors: number;
  readonly applied: Record<string, number>;
  readonly reports: number;
  readonly report_p50_ms: number | null;
  readonly report_p99_ms: number | null;
}

describe('npm run sim against a hub', () => {
  let hub: HubFixture | undefined;

  afterEach(async () => {
    await hub?.dispose();
    hub = undefined;
  });

  it('enrolls its agents on the stream, takes a rollout, and prints the reports with their latency each interval', async () => {
    hub = await startHub();
    const agents = 6;
    const token = await hub.enrollmentToken(agents, { fleet: 'sim' });
    await hub.publish('app', '1.0.0', [configMap('app', { version: '1.0.0' })]);
    const child = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        ...['--agents', String(agents), '--procs', '2', '--hub', hub.url, '--enroll-token', token],
        ...['--interval-seconds', '1', '--json'],
      ],
      { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const seen: SimLine[] = [];
    const until = async (what: string, holds: (line: SimLine) => boolean): Promise<SimLine> => {
      for (;;) {
        const next = await lines.next();
        if (next.done === true) throw new Error(`sim ended before ${what}: ${stderr}`);
        const line = JSON.parse(next.value) as SimLine;
        seen.push(line);
        if (holds(line)) return line;
      }
    };
    try {
      await until('every stream was open', (line) => line.streams_open === agents);
      const created = await api(hub.url, 'POST', '/v1/rollouts', {
        token: hub.adminToken,
        body: { release: 'app@1.0.0', selector: 'fleet=sim' },
      });
      expect(created.status).toBe(201);
      const last = await until('every agent applied', (line) => {
        const applied = Object.values(line.applied).reduce((n, count) => n + count, 0);
        return applied === agents;
      });
      expect(last.errors).toBe(0);
      expect(seen.reduce((n, line) => n + line.reports, 0)).toBeGreaterThanOrEqual(agents);
      for (const line of seen) {
        if (line.reports === 0) {
          expect(line.report_p50_ms).toBeNull();
          expect(line.report_p99_ms).toBeNull();
        } else {
          expect(line.report_p50_ms).toBeGreaterThan(0);
          expect(line.report_p99_ms).toBeGreaterThanOrEqual(line.report_p50_ms!);
        }
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
