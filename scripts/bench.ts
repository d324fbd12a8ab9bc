/**
 * `npm run bench -- NAME`: runs scripts/bench/NAME.ts. Each benchmark prints, as its last
 * line, one JSON object of its figures.
 */
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('./bench/', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.includes('.worker.') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();
const name = process.argv[2];
if (name === undefined || !existsSync(join(dir, `${name}.ts`))) {
  process.stderr.write(`bench: name one of ${available.join(', ')}: npm run bench -- NAME\n`);
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  [
    '--expose-gc',
    '--conditions=@flotilla/source',
    '--import',
    'tsx',
    join(dir, `${name}.ts`),
    ...process.argv.slice(3),
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
