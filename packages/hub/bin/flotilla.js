#!/usr/bin/env node
// Runs the build (dist/), which `npm ci` or `npm run build` makes; no TypeScript at run time.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('flotilla: the build is missing (dist/main.js); run npm run build in the repository\n');
  process.exit(1);
}
await import(main.href);
