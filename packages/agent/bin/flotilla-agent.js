#!/usr/bin/env node
// Runs the bundled build (dist/bundle/), which `npm ci` or `npm run build` makes; no TypeScript
// at run time. One bundle rather than dist/main.js and its modules: the agent starts faster and
// holds less (scripts/bundle-agent.js).
import { existsSync } from 'node:fs';

const main = new URL('../dist/bundle/flotilla-agent.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'flotilla-agent: the build is missing (dist/bundle/flotilla-agent.js); run npm run build in the repository\n',
  );
  process.exit(1);
}
await import(main.href);
