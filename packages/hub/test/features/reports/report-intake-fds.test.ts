import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./intake-out-of-fds-child.ts', import.meta.url));

describe('a report intake in a process out of file descriptors', () => {
  it('verifies every report it is handed once its workers are ready', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        'prlimit',
        ['--nofile=256:256', process.execPath, '--conditions=@flotilla/source', '--import', 'tsx', CHILD],
        // tsx's compile cache would stay behind in the temporary folder.
        { env: { ...process.env, TSX_DISABLE_CACHE: '1' } },
        (error, out, err) => (error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`))),
      ),
    );
    const { held, outcomes } = JSON.parse(stdout) as { held: number; outcomes: string[] };
    expect(held).toBeGreaterThan(0);
    expect(outcomes).toEqual(Array.from({ length: 50 }, () => 'verified'));
  }, 30_000);
});
