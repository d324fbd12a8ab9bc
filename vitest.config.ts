import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run the packages' TypeScript sources (each package's exports map sends the
// `@flotilla/source` condition to src/), never their build, so no test needs `npm run build`
// to see a change. Tests that start the real bins are the exception: the global setup builds
// what is out of date first.
const conditions = ['@flotilla/source', ...defaultServerConditions];

export default defineConfig({
  // Vitest runs tests in Vite's server (SSR) environment; its resolver reads these.
  ssr: { resolve: { conditions } },
  test: {
    globalSetup: ['test/setup/build.ts'],
    projects: [
      { extends: true, test: { name: 'protocol', include: ['packages/protocol/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'hub', include: ['packages/hub/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'agent', include: ['packages/agent/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'dashboard', include: ['packages/dashboard/test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 },
      },
    ],
  },
});
