import type { Command } from 'commander';
import { API_VERSION, Bundle, parseWith, signBundle } from '@flotilla/protocol';
import { PublishResult, ReleaseList } from '@flotilla/protocol/api';
import type { ApiClient } from '../api-client.ts';
import { readKeyFile } from '../../key-files.ts';
import { loadManifests } from '../load-manifests.ts';
import { outputFormat, print } from '../output.ts';

/**
 * `flotilla release`: publish and list releases — immutable, content-addressed sets of
 * manifests signed with release keys. `flotilla bundle` is the same command under its
 * earlier name.
 */
export function releaseCommand(program: Command, client: () => ApiClient): void {
  const release = program
    .command('release')
    .alias('bundle')
    .description('releases: immutable, content-addressed, signed sets of manifests (also: bundle)');
  release
    .command('publish <dir>')
    .description('read the manifests in DIR, sign them with release keys and publish them as name@version')
    .requiredOption('--name <name>', 'release name, such as app')
    .requiredOption('--version <version>', 'release version, such as 4.3.0')
    .requiredOption('--key <file...>', 'release key files to sign with (flotilla keys create --out FILE)')
    .option('--source <url>', 'provenance: where the manifests come from')
    .option('--commit <sha>', 'provenance: the commit they were built from')
    .action(
      async (
        dir: string,
        flags: { name: string; version: string; key: string[]; source?: string; commit?: string },
      ) => {
        const resources = loadManifests(dir);
        const provenance = {
          ...(flags.source === undefined ? {} : { source: flags.source }),
          ...(flags.commit === undefined ? {} : { commit: flags.commit }),
        };
        const content = parseWith(
          Bundle,
          {
            apiVersion: API_VERSION,
            kind: 'Bundle',
            name: flags.name,
            version: flags.version,
            resources,
            ...(Object.keys(provenance).length === 0 ? {} : { provenance }),
          },
          'release',
        );
        const signed = signBundle(content, flags.key.map(readKeyFile));
        const result = await client().call(PublishResult, 'POST', '/v1/bundles', signed);
        process.stdout.write(
          `${result.created ? 'published' : 'already published'} ${flags.name}@${flags.version} (${resources.length} resources) ${result.digest}\n`,
        );
      },
    );
  release
    .command('ls')
    .description('list published releases, by name and then age')
    .option('--name <name>', 'only releases of this name')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { name?: string; output?: string }) => {
      const { items } = await client().call(ReleaseList, 'GET', '/v1/bundles');
      const shown = flags.name === undefined ? items : items.filter((i) => i.name === flags.name);
      print(outputFormat(flags.output), { items: shown }, () => [
        ['RELEASE', 'DIGEST', 'PUBLISHED', 'BY'],
        ...shown.map((i) => [`${i.name}@${i.version}`, i.digest, i.createdAt, i.createdBy ?? '']),
      ]);
    });
}
