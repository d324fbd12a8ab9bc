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

export default defineConfig({
  ssr,
  test: {
    // Once for the whole run (projects do not inherit it): build, then isolate and check temp dirs.
    globalSetup: ['test/setup/build.ts', 'test/setup/isolate.ts'],
    projects: [
      // Property tests and real stores take seconds on a loaded 2-core runner: 5 s timed them out there.
      project('protocol', 'packages/protocol/test/**/*.test.ts', { testTimeout: 30_000 }),
      project('hub', 'packages/hub/test/**/*.test.ts', { testTimeout: 30_000, hookTimeout: 30_000 }),
      project('agent', 'packages/agent/test/**/*.test.ts', { testTimeout: 30_000, hookTimeout: 30_000 }),
      project('dashboard', 'packages/dashboard/test/**/*.test.ts'),
      project('e2e', 'test/**/*.test.ts', {
        testTimeout: 120_000,
        hookTimeout: 60_000,
        setupFiles: ['test/setup/remove-temp-dirs.ts'],
      }),
    ],
  },
});
