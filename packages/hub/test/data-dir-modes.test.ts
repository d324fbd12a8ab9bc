import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openHub } from '../src/open-hub.ts';

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe("the hub's data directory", () => {
  let dir: string;

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created 0700, with the database (and its WAL and shared-memory files), keys and admin token 0600', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-hub-modes-'));
    const dataDir = join(dir, 'nested', 'hub');
    // Whatever the umask of whoever starts the hub, no file of it is readable by others.
    const umask = process.umask(0o022);
    try {
      const { hub } = await openHub({ dataDir, log: pino({ level: 'silent' }) });
      try {
        for (const file of ['hub.db-wal', 'hub.db-shm']) expect(existsSync(join(dataDir, file)), file).toBe(true);
        expect({
          dir: mode(dataDir),
          keysDir: mode(join(dataDir, 'keys')),
          db: mode(join(dataDir, 'hub.db')),
          wal: mode(join(dataDir, 'hub.db-wal')),
          shm: mode(join(dataDir, 'hub.db-shm')),
          hubKey: mode(join(dataDir, 'keys', 'hub.json')),
          rootKey: mode(join(dataDir, 'keys', 'root.json')),
          adminToken: mode(join(dataDir, 'admin-token')),
        }).toEqual({
          dir: '700',
          keysDir: '700',
          db: '600',
          wal: '600',
          shm: '600',
          hubKey: '600',
          rootKey: '600',
          adminToken: '600',
        });
      } finally {
        await hub.close();
      }
    } finally {
      process.umask(umask);
    }
  });
});
