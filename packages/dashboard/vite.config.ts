import { createLogger, defaultClientConditions, defineConfig } from 'vite';

const logger = createLogger('warn');
const warn = logger.warn.bind(logger);
logger.warn = (message, options) => {
  // The protocol's API schemas share modules with its signing code, which imports node:crypto.
  // The dashboard never calls that code, and the build drops it (the protocol package has no
  // side effects), so the shim Vite puts in its place is never reached.
  if (message.includes('"node:crypto" has been externalized for browser compatibility')) return;
  warn(message, options);
};

/**
 * The dashboard's build: plain Preact JSX through Vite's own transformer, no inline
 * script or style in the output (the hub serves it under a strict CSP), and hashed file
 * names the hub can cache forever.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  // The protocol's TypeScript sources, as in tests and type checks, not its build: the
  // dashboard builds the same on a fresh clone as after `npm run build`.
  resolve: { conditions: ['@flotilla/source', ...defaultClientConditions] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    reportCompressedSize: true,
  },
  logLevel: 'warn',
  customLogger: logger,
});
