import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Builds what is out of date before the tests: the tests that run the real `flotilla` and
 * `flotilla-agent` bins, the demo or an installed package run the build, as users do. Tests
 * that import the packages read their sources and would not need it.
 */
export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build.js', import.meta.url))], {
    stdio: 'inherit',
  });
}
