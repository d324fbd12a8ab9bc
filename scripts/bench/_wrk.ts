import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkResult {
  readonly rps: number;
  readonly unexpected: number;
}

/** True when wrk, a load generator in C, is installed (Debian: `apt-get install wrk`). */
export function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

const lua = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * Runs wrk on one thread against `url` with one fixed request, and counts answers whose status
 * is not `expectStatus`. One thread leaves the other core to the server under test. A fixed
 * request keeps wrk out of Lua on the hot path: a per-request Lua function costs wrk more
 * than the server spends answering.
 */
export async function wrk(
  url: string,
  fixed: { path: string; headers: Record<string, string> },
  expectStatus: number,
  options: { connections: number; durationMs: number },
): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-wrk-'));
  const script = join(dir, 'request.lua');
  writeFileSync(
    script,
    `wrk.method = "GET"
wrk.path = ${lua(fixed.path)}
${Object.entries(fixed.headers)
  .map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`)
  .join('\n')}
local unexpected = 0
response = function(status, headers, body)
  if status ~= ${expectStatus} then unexpected = unexpected + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("UNEXPECTED %d\\n", unexpected))
end
`,
  );
  try {
    // Asynchronous on purpose: the server under test runs on this process's event loop.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('wrk', [
        '-t1',
        `-c${options.connections}`,
        `-d${Math.round(options.durationMs / 1000)}s`,
        '-s',
        script,
        url,
      ]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
    if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr}`);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1]);
    const unexpected = Number(/UNEXPECTED (\d+)/.exec(run.stdout)?.[1] ?? 'NaN');
    if (!Number.isFinite(rps) || !Number.isFinite(unexpected))
      throw new Error(`cannot read wrk's output:\n${run.stdout}`);
    return { rps, unexpected };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
