#!/usr/bin/env node
// Node 20 cannot run TypeScript by itself; tsx compiles on the fly, so the bin runs from a clone.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
