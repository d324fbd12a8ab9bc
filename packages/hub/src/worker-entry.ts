import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * How to start the worker thread whose module sits beside `caller` (its `import.meta.url`) as
 * `name`.ts or `name`.js. In dist/ it is JavaScript; under the tests and the benchmarks, which
 * run src/, it is TypeScript, loaded through tsx (whose loader Node 20 does not pass on to
 * worker threads) with the packages' source condition.
 */
export function workerEntry(
  caller: string,
  name: string,
): { readonly entry: URL | string; readonly options: WorkerOptions } {
  const fromSource = caller.endsWith('.ts');
  const url = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, caller);
  if (!fromSource) return { entry: url, options: {} };
  const tsx = new URL('dist/esm/api/index.mjs', pathToFileURL(createRequire(caller).resolve('tsx/package.json'))).href;
  return {
    entry: `import(${JSON.stringify(tsx)}).then((tsx) => tsx.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(caller)}))`,
    // Without tsx's cache, which it would leave in the temporary folder; a benchmark's CPU
    // profile (--cpu-prof) covers the workers too.
    options: {
      eval: true,
      execArgv: ['--conditions=@flotilla/source', ...process.execArgv.filter((arg) => arg.startsWith('--cpu-prof'))],
      env: { ...process.env, TSX_DISABLE_CACHE: '1' },
    },
  };
}
