import { defineConfig } from 'vite';

/**
 * The dashboard's build: plain Preact JSX through Vite's own transformer, no inline
 * script or style in the output (the hub serves it under a strict CSP), and hashed file
 * names the hub can cache forever.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
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
});
