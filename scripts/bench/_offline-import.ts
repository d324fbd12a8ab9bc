/** The import side of the offline benchmark, in its own process: `_offline-import.ts FILE DESTINATION HUB_PUBLIC_KEY`. */
import { keyIdOf } from '@flotilla/protocol';
import { importTransferFile } from '../../packages/agent/src/offline/index.ts';

const [file, destination, publicKey] = process.argv.slice(2);
const started = performance.now();
const imported = await importTransferFile(file!, {
  hubKeys: [{ id: keyIdOf(publicKey!), publicKey: publicKey! }],
  destination: destination!,
});
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ bytes: imported.bytes, entries: imported.manifest.entries.length, seconds, rss_mb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
