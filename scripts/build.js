#!/usr/bin/env node
// `npm run build` (and `npm ci`, through the root `prepare` script): the packages' TypeScript
// to dist/ JavaScript, the hub's SQL migrations beside it, and the dashboard. The bins, the
// demo and the container images run this output; nothing compiles TypeScript at run time.
// `tsc -b` skips what is up to date, so a second run takes about half a second.
//
//   node scripts/build.js              everything
//   node scripts/build.js --no-dashboard   the packages and the demo only
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const require = createRequire(import.meta.url);

function run(args) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run([
  require.resolve('typescript/bin/tsc'),
  '-b',
  'packages/protocol/tsconfig.build.json',
  'packages/hub/tsconfig.build.json',
  'packages/agent/tsconfig.build.json',
  'scripts/tsconfig.build.json',
]);

// The hub reads its migrations from the folder beside its store module, in src/ or in dist/.
const migrations = `${root}packages/hub/dist/store/migrations`;
rmSync(migrations, { recursive: true, force: true });
cpSync(`${root}packages/hub/src/store/migrations`, migrations, { recursive: true });

if (!process.argv.includes('--no-dashboard')) {
  const { build } = await import('vite');
  await build({ configFile: `${root}packages/dashboard/vite.config.ts` });
}
