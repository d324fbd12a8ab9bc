// The agent's bin runs one bundle (an entry and the chunks it imports) rather than the ~650 modules its build and its
// dependencies are made of: resolving, reading and instantiating each one cost the agent about
// a third of its start time, and the modules of the protocol it never uses (query language,
// audit chain, the hub's API bodies) stayed in its memory. esbuild bundles dist/main.js (the
// tsc output, so no TypeScript is compiled twice), drops what nothing reaches (the protocol is
// free of side effects), and minifies, which shrinks the source V8 keeps for lazy compilation.
// Lazily loaded parts (metrics, the offline commands, pino-pretty, the release policy checks
// with their Sigstore and time zone code) go into chunks of their own (dist/bundle/chunks/),
// read only when imported: an idle agent neither parses their source nor keeps it (about
// 2 MB of its memory). Of zod's translated messages only English is
// bundled (scripts/zod-english-only.js), and of undici (in the registry client's chunk only) no HTTP/2
// (scripts/undici-no-h2.cjs). A sourcemap sits beside it for
// `node --enable-source-maps`.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** `undici` as the agent imports it: scripts/undici-request-only.js and scripts/undici-no-h2.cjs. */
const undiciRequestOnly = {
  name: 'undici-request-only',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, () => ({
      path: fileURLToPath(new URL('undici-request-only.js', import.meta.url)),
    }));
    build.onResolve({ filter: /^\.\/client-h2\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]undici[\\/]lib[\\/]dispatcher$/.test(args.resolveDir)
        ? { path: fileURLToPath(new URL('undici-no-h2.cjs', import.meta.url)) }
        : undefined,
    );
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
 * Bundles `packages/agent/dist/main.js` into `packages/agent/dist/bundle/flotilla-agent.js`
 * and its chunks. Only files that changed are written, each whole (a rename), the entry last,
 * so an agent starting meanwhile never reads half a bundle; files of earlier builds go.
 */
export async function bundleAgent(root) {
  const outdir = join(root, 'packages/agent/dist/bundle');
  const result = await build({
    entryPoints: { 'flotilla-agent': join(root, 'packages/agent/dist/main.js') },
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
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
  const entry = join(outdir, 'flotilla-agent.js');
  // The entry last, so an agent starting meanwhile finds every chunk it names.
  const files = result.outputFiles.sort((a, b) => Number(a.path === entry) - Number(b.path === entry));
  const written = new Set(files.map((file) => file.path));
  for (const file of files) {
    mkdirSync(dirname(file.path), { recursive: true });
    const contents = file.path.endsWith('.js') ? Buffer.from(asciiOnly(file.text)) : file.contents;
    if (existsSync(file.path) && readFileSync(file.path).equals(contents)) continue;
    writeFileSync(`${file.path}.tmp`, contents);
    renameSync(`${file.path}.tmp`, file.path);
  }
  // What earlier builds left: chunks' names carry their hash, so none is overwritten.
  for (const name of readdirSync(outdir, { recursive: true })) {
    const path = join(outdir, name);
    if (!written.has(path) && !statSync(path).isDirectory()) rmSync(path);
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
