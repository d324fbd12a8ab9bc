/**
 * The air-gap transfer file, both ways, at scale: a release and an image of BENCH_LAYERS
 * layers totalling BENCH_BYTES (1 GiB) of seeded pseudo-random bytes. The export runs in one
 * process (the hub's exportTransferFile: stream, sign, fsync, rename), the import in another
 * (the agent's importTransferFile: read, verify the manifest and every digest, extract to
 * staging, fsync, rename), so each side's peak RSS is its own. MB is 10^6 bytes.
 *
 * Environment: BENCH_BYTES (1073741824), BENCH_LAYERS (8).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair } from '@flotilla/protocol';
import { layerDigests } from './_offline-source.ts';

const BYTES = Number(process.env['BENCH_BYTES'] ?? 1024 * 1024 * 1024);
const LAYERS = Number(process.env['BENCH_LAYERS'] ?? 8);

interface Side {
  readonly bytes: number;
  readonly seconds: number;
  readonly rss_mb: number;
}

function run(script: string, args: readonly string[]): Side {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const output = execFileSync(process.execPath, ['--conditions=@flotilla/source', '--import', 'tsx', path, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(output.trim().split('\n').at(-1)!) as Side;
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-offline-'));
try {
  const hubKey = generateKeyPair();
  const file = join(dir, 'transfer.flotilla');
  // The layers' digests are worked out here, so the export process spends nothing on them.
  const layerBytes = Math.floor(BYTES / LAYERS);
  const digests = await layerDigests(LAYERS, layerBytes);
  const exported = run('./_offline-export.ts', [
    file,
    JSON.stringify(hubKey),
    String(layerBytes),
    JSON.stringify(digests),
  ]);
  const imported = run('./_offline-import.ts', [file, join(dir, 'imported'), hubKey.publicKey]);
  const round = (n: number) => Math.round(n * 10) / 10;
  process.stdout.write(
    `export: ${exported.bytes} bytes in ${exported.seconds.toFixed(2)} s; import: ${imported.bytes} bytes in ${imported.seconds.toFixed(2)} s\n`,
  );
  process.stdout.write(
    `${JSON.stringify({
      name: 'offline',
      bytes: exported.bytes,
      export_mb_s: round(exported.bytes / 1e6 / exported.seconds),
      import_mb_s: round(exported.bytes / 1e6 / imported.seconds),
      export_rss_mb: round(exported.rss_mb),
      import_rss_mb: round(imported.rss_mb),
    })}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
