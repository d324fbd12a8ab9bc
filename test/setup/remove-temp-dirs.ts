import { afterAll } from 'vitest';
import { removeTempDirs } from '../fixtures/temp-dir.ts';

// After each end-to-end test file: the temporary directories its fixtures made.
afterAll(removeTempDirs);
