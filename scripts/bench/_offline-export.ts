/** The export side of the offline benchmark, in its own process: `_offline-export.ts FILE HUB_KEY_JSON LAYER_BYTES LAYER_DIGESTS_JSON`. */
import { KeyPair } from '@flotilla/protocol';
import { exportTransferFile } from '../../packages/hub/src/features/offline/index.ts';
import { benchContents } from './_offline-source.ts';

const [file, key, layerBytes, digests] = process.argv.slice(2);
const hubKey = KeyPair.parse(JSON.parse(key!));
const contents = benchContents(hubKey, JSON.parse(digests!) as string[], Number(layerBytes));
const started = performance.now();
const exported = await exportTransferFile(file!, contents, hubKey);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ bytes: exported.bytes, seconds, rss_mb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
