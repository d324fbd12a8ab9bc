import type { Command } from 'commander';
import { API_VERSION, Bundle, signBundle } from '@flotilla/protocol';
import type { ApiClient } from '../api-client.ts';
import { readKeyFile } from '../../services/key-files.ts';
import { loadManifests } from '../load-manifests.ts';
import { parseWith } from '../../http/body.ts';

export function bundleCommand(program: Command, client: () => ApiClient): void {
  const bundle = program.command('bundle').description('releases: immutable, content-addressed, signed sets of manifests');
  bundle
    .command('publish <dir>')
    .description('read the manifests in DIR, sign them with release keys and publish them')
    .requiredOption('--name <name>', 'release name, such as app')
    .requiredOption('--version <version>', 'release version, such as 4.3.0')
    .requiredOption('--key <file...>', 'release key files to sign with')
    .option('--source <url>', 'provenance: where the manifests come from')
    .option('--commit <sha>', 'provenance: the commit they were built from')
    .action(async (dir: string, flags: { name: string; version: string; key: string[]; source?: string; commit?: string }) => {
      const resources = loadManifests(dir);
      const provenance = { ...(flags.source === undefined ? {} : { source: flags.source }), ...(flags.commit === undefined ? {} : { commit: flags.commit }) };
      const content = parseWith(Bundle, { apiVersion: API_VERSION, kind: 'Bundle', name: flags.name, version: flags.version, resources, ...(Object.keys(provenance).length === 0 ? {} : { provenance }) }, 'bundle');
      const signed = signBundle(content, flags.key.map(readKeyFile));
      const result = await client().call<{ digest: string; created: boolean }>('POST', '/v1/bundles', signed);
      process.stdout.write(`${result.created ? 'published' : 'already published'} ${flags.name}@${flags.version} (${resources.length} resources) ${result.digest}\n`);
    });
  bundle
    .command('ls')
    .description('list published releases')
    .action(async () => {
      const { items } = await client().call<{ items: { digest: string; name: string; version: string; createdAt: string }[] }>('GET', '/v1/bundles');
      for (const item of items) process.stdout.write(`${item.name}@${item.version}  ${item.digest}  ${item.createdAt}\n`);
    });
}
