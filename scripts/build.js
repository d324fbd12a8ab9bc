#!/usr/bin/env node
// `npm run build` (and `npm ci`, through the root `prepare` script): the packages' TypeScript
// to dist/ JavaScript, the agent's bin bundled into one file (scripts/bundle-agent.js), the hub's
// SQL migrations beside it, and the dashboard. The bins, the
// demo and the container images run this output; nothing compiles TypeScript at run time.
// `tsc -b` skips what is up to date and writes nothing then, so a second run takes about half
// a second and disturbs no process running the build.
//
//   node scripts/build.js                  everything
//   node scripts/build.js --no-dashboard   the packages and the demo only (npm start does this)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundleAgent } from './bundle-agent.js';

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
  'packages/runtime/tsconfig.build.json',
  'packages/hub/tsconfig.build.json',
  'packages/agent/tsconfig.build.json',
  'scripts/tsconfig.build.json',
]);

await bundleAgent(root);

// The hub reads its migrations (SQLite's and PostgreSQL's) from folders beside its store
// module, and starts its PostgreSQL worker from a plain JavaScript file, in src/ or in dist/.
// Only what changed is written, each file whole (a rename), so a hub starting meanwhile
// never reads half a migration or an empty folder.
function copyFiles(from, to, keep = () => true) {
  mkdirSync(to, { recursive: true });
  const sources = new Set(readdirSync(from).filter(keep));
  for (const name of sources) {
    const text = readFileSync(join(from, name));
    if (existsSync(join(to, name)) && readFileSync(join(to, name)).equals(text)) continue;
    writeFileSync(join(to, `.${name}.tmp`), text);
    renameSync(join(to, `.${name}.tmp`), join(to, name));
  }
  return sources;
}
for (const folder of ['migrations', 'migrations-postgres']) {
  const to = `${root}packages/hub/dist/store/${folder}`;
  const sources = copyFiles(`${root}packages/hub/src/store/${folder}`, to);
  for (const name of readdirSync(to)) if (!sources.has(name)) rmSync(join(to, name));
}
copyFiles(`${root}packages/hub/src/store/postgres`, `${root}packages/hub/dist/store/postgres`, (name) =>
  name.endsWith('.mjs'),
);

if (!process.argv.includes('--no-dashboard')) {
  const { build } = await import('vite');
  await build({ configFile: `${root}packages/dashboard/vite.config.ts` });
}
