import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeTransfer } from '@flotilla/protocol/offline';
import { importTransferFile, removeStaleStaging } from '../packages/agent/src/offline/index.ts';
import {
  collect,
  contents,
  hubKey,
  hubKeys,
  image,
  seededBytes,
} from '../packages/protocol/test/offline/offline-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const CHILD = fileURLToPath(new URL('./fixtures/import-transfer-child.ts', import.meta.url));

let work: ReturnType<typeof tempDir>;
beforeEach(() => {
  work = tempDir('flotilla-kill-');
});
afterEach(() => work.remove());

describe('an import killed with SIGKILL part-way', () => {
  it('leaves no destination, only staging that the next start removes, and the file imports whole afterwards', async () => {
    const img = image('registry.example/big:1', seededBytes('big', 4 * 1024 * 1024));
    const bytes = await collect(writeTransfer(contents({ images: { index: img.index, blobs: img.blobs } }), hubKey));
    const imports = join(work.path, 'imports');
    const destination = join(imports, 'gen-7');

    const child = spawn(
      process.execPath,
      ['--conditions=@flotilla/source', '--import', 'tsx', CHILD, destination, JSON.stringify(hubKeys)],
      // tsx's compile cache would stay behind in the temporary folder.
      { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, TSX_DISABLE_CACHE: '1' } },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    // The pipe breaks when the child is killed with bytes still unread: that is the point.
    child.stdin.on('error', () => undefined);
    child.stdin.write(bytes.subarray(0, bytes.length / 2));
    // Kill it once the staging directory holds part of the image blobs.
    await waitFor('the import to write image blobs', () => {
      const staging = existsSync(imports) ? readdirSync(imports).find((name) => name.endsWith('.staging')) : undefined;
      return staging !== undefined && existsSync(join(imports, staging, 'images', 'blobs', 'sha256'));
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    expect(existsSync(destination)).toBe(false);
    expect(await removeStaleStaging(imports)).toHaveLength(1);
    expect(readdirSync(imports)).toEqual([]);
    const imported = await importTransferFile(
      (async function* () {
        yield bytes;
      })(),
      { hubKeys, destination },
    );
    expect(imported.manifest.entries).toHaveLength(10);
  });
});
