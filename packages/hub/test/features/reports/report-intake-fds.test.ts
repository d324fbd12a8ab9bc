import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./intake-out-of-fds-child.ts', import.meta.url));

/** Runs the child under a low open-file limit and returns what it printed. */
function runChild(...args: string[]): Promise<{ held: number; outcomes: string[] }> {
  return new Promise((resolve, reject) =>
    execFile(
      'prlimit',
      ['--nofile=256:256', process.execPath, '--conditions=@flotilla/source', '--import', 'tsx', CHILD, ...args],
      // tsx's compile cache would stay behind in the temporary folder.
      { env: { ...process.env, TSX_DISABLE_CACHE: '1' } },
      (error, out, err) => (error === null ? resolve(JSON.parse(out)) : reject(new Error(`${error.message}\n${err}`))),
    ),
  );
}

const allVerified = Array.from({ length: 50 }, () => 'verified');

describe('a report intake in a process out of file descriptors', () => {
  it('verifies every report it is handed once its workers are ready', async () => {
    const { held, outcomes } = await runChild();
    expect(held).toBeGreaterThan(0);
    expect(outcomes).toEqual(allVerified);
  }, 30_000);

  it('verifies every report in process when its worker could not start', async () => {
    const { held, outcomes } = await runChild('before-start');
    expect(held).toBeGreaterThan(0);
    expect(outcomes).toEqual(allVerified);
  }, 30_000);
});
