import { defaultServerConditions } from 'vite';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// Tests run the packages' TypeScript sources (each package's exports map sends the
// `@flotilla/source` condition to src/), never their build, so no test needs `npm run build`
// to see a change. Tests that start the real bins are the exception: the global setup builds
// what is out of date first. Vitest runs tests in Vite's server (SSR) environment, whose
// resolver reads these conditions.
const ssr = { resolve: { conditions: ['@flotilla/source', ...defaultServerConditions] } };

function project(
  name: string,
  include: string,
  options: Partial<TestProjectInlineConfiguration['test']> = {},
): TestProjectInlineConfiguration {
  return { ssr, test: { name, include: [include], ...options } };
}

// The suite's shape (docs/development.md, "Tests"). First the packages' own tests, two files at
// a time in workers that stay up from file to file: they start no processes and share no state
// through modules, and importing the hub's sources once per worker instead of once per file is
// most of what they cost. Then the end-to-end tests, one file at a time: they start real hubs,
// agents and browsers whose timeouts assume the machine is theirs.
const packages = { maxWorkers: 2, isolate: false, sequence: { groupOrder: 0 } };
const endToEnd = { maxWorkers: 1, sequence: { groupOrder: 1 } };

export default defineConfig({
  ssr,
  test: {
    // Once for the whole run (projects do not inherit it): build, then isolate and check temp dirs.
    globalSetup: ['test/setup/build.ts', 'test/setup/isolate.ts'],
    projects: [
      // Property tests and real stores take seconds on a loaded 2-core runner: 5 s timed them out there.
      project('protocol', 'packages/protocol/test/**/*.test.ts', { ...packages, testTimeout: 30_000 }),
      project('hub', 'packages/hub/test/**/*.test.ts', { ...packages, testTimeout: 30_000, hookTimeout: 30_000 }),
      project('agent', 'packages/agent/test/**/*.test.ts', { ...packages, testTimeout: 30_000, hookTimeout: 30_000 }),
      project('dashboard', 'packages/dashboard/test/**/*.test.ts', packages),
      project('e2e', 'test/**/*.test.ts', {
        ...endToEnd,
        testTimeout: 120_000,
        hookTimeout: 60_000,
        setupFiles: ['test/setup/remove-temp-dirs.ts'],
      }),
    ],
  },
});
