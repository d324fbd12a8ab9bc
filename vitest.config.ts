import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'protocol', include: ['packages/protocol/test/**/*.test.ts'] } },
      { test: { name: 'hub', include: ['packages/hub/test/**/*.test.ts'] } },
      { test: { name: 'agent', include: ['packages/agent/test/**/*.test.ts'] } },
      { test: { name: 'dashboard', include: ['packages/dashboard/test/**/*.test.ts'] } },
      { test: { name: 'e2e', include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
    ],
  },
});
