import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Gives the test run a temporary folder of its own, and with it the processes the tests start
 * (TMPDIR), and an empty config folder (XDG_CONFIG_HOME), so that the operator's own flotilla
 * contexts never reach a test. At the end, whatever a test left in the temporary folder is a
 * leak: the run fails and names it.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-test-run-'));
  const temp = join(root, 'tmp');
  const config = join(root, 'config');
  for (const dir of [temp, config]) mkdirSync(dir);
  process.env['TMPDIR'] = temp;
  process.env['XDG_CONFIG_HOME'] = config;
  return () => {
    const left = readdirSync(temp);
    rmSync(root, { recursive: true, force: true });
    if (left.length === 0) return;
    // By name without the random part, such as flotilla-agent-* (12): where to look for the leak.
    const counts = new Map<string, number>();
    for (const name of left) {
      const prefix = name.replace(/[A-Za-z0-9]{6}$/, '*');
      counts.set(prefix, (counts.get(prefix) ?? 0) + 1);
    }
    // Vitest reports an error thrown here but keeps its exit status: fail the run by hand.
    process.exitCode = 1;
    throw new Error(
      `the tests left ${left.length} entries in their temporary folder (${[...counts].map(([p, n]) => `${p} (${n})`).join(', ')}); remove what each test creates when it ends`,
    );
  };
}
