// The agent's bin runs one bundled file rather than the ~650 modules its build and its
// dependencies are made of: resolving, reading and instantiating each one cost the agent about
// a third of its start time, and the modules of the protocol it never uses (query language,
// audit chain, the hub's API bodies) stayed in its memory. esbuild bundles dist/main.js (the
// tsc output, so no TypeScript is compiled twice), drops what nothing reaches (the protocol is
// free of side effects), and minifies, which shrinks the source V8 keeps for lazy compilation.
// Lazily loaded parts (metrics, the offline commands, pino-pretty) stay lazy: their code is
// in the file but runs only when imported. Of zod's translated messages only English is
// bundled (scripts/zod-english-only.js). A sourcemap sits beside it for
// `node --enable-source-maps`.
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** `undici` as the agent imports it: scripts/undici-request-only.js. */
const undiciRequestOnly = {
  name: 'undici-request-only',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, () => ({
      path: fileURLToPath(new URL('undici-request-only.js', import.meta.url)),
    }));
  },
};

/** zod's `locales` as the agent uses them: scripts/zod-english-only.js. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/]/.test(args.importer)
        ? { path: fileURLToPath(new URL('zod-english-only.js', import.meta.url)) }
        : undefined,
    );
  },
};

/**
 * Bundles `packages/agent/dist/main.js` into `packages/agent/dist/bundle/flotilla-agent.js`.
 * Only files that changed are written, each whole (a rename), so an agent starting meanwhile
 * never reads half a bundle.
 */
export async function bundleAgent(root) {
  const outfile = join(root, 'packages/agent/dist/bundle/flotilla-agent.js');
  const result = await build({
    entryPoints: [join(root, 'packages/agent/dist/main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.18',
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    write: false,
    logLevel: 'warning',
    legalComments: 'linked',
    // ws loads these native speed-ups when they are installed and does without them otherwise.
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [undiciRequestOnly, zodEnglishOnly],
    // The CommonJS dependencies (undici, pino, ws) call require for Node's own modules.
    banner: {
      js: "import { createRequire as __flotillaRequire } from 'node:module'; const require = __flotillaRequire(import.meta.url);",
    },
  });
  mkdirSync(dirname(outfile), { recursive: true });
  for (const file of result.outputFiles) {
    const contents = file.path === outfile ? Buffer.from(asciiOnly(file.text)) : file.contents;
    if (existsSync(file.path) && readFileSync(file.path).equals(contents)) continue;
    writeFileSync(`${file.path}.tmp`, contents);
    renameSync(`${file.path}.tmp`, file.path);
  }
}

/**
 * The bundle with every character outside ASCII written as a `\\u` escape. esbuild escapes
 * strings but leaves some regular expression literals (a dash class such as `[-–]`) as they
 * are, and a single such character makes V8 hold the whole source two bytes a character:
 * 3.6 MB of the agent's heap instead of 1.8. The escape means the same character in a
 * regular expression, a string or an identifier (the sourcemap's columns after one shift by
 * a few characters on that line).
 */
function asciiOnly(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
