import type { Command } from 'commander';
import { API_VERSION, Bundle, FlotillaError, parseWith, signBundle } from '@flotilla/protocol';
import { PublishResult, ReleaseDetails, ReleaseList, type ReleasePolicyVerdict } from '@flotilla/protocol/api';
import type { ApiClient } from '../api-client.ts';
import { readKeyFile } from '../../key-files.ts';
import { loadManifests } from '../load-manifests.ts';
import { readAttestationFile } from '../read-attestation.ts';
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
    .option(
      '--attestation <file>',
      'a provenance attestation of the release (DSSE envelope or Sigstore bundle); repeatable',
      (file: string, files: string[]) => [...files, file],
      [] as string[],
    )
    .action(
      async (
        dir: string,
        flags: {
          name: string;
          version: string;
          key: string[];
          source?: string;
          commit?: string;
          attestation: string[];
        },
      ) => {
        const attestations = flags.attestation.map(readAttestationFile);
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
        const result = await client().call(PublishResult, 'POST', '/v1/bundles', {
          ...signed,
          ...(attestations.length === 0 ? {} : { attestations }),
        });
        process.stdout.write(
          `${result.created ? 'published' : 'already published'} ${flags.name}@${flags.version} (${resources.length} resources) ${result.digest}\n`,
        );
        for (const digest of result.attestations ?? []) process.stdout.write(`attestation ${digest} stored\n`);
        for (const line of refusals(result.policies ?? [])) process.stderr.write(`warning: ${line}\n`);
      },
    );
  release
    .command('show <release>')
    .description('a release (name@version or digest): its attestations and how each live policy judges it')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (ref: string, flags: { output?: string }) => {
      const digest = ref.startsWith('sha256:') ? ref : await digestOf(client(), ref);
      const details = await client().call(ReleaseDetails, 'GET', `/v1/bundles/${encodeURIComponent(digest)}/details`);
      print(outputFormat(flags.output), details, () => [
        ['RELEASE', `${details.name}@${details.version}`],
        ['DIGEST', details.digest],
        ['PUBLISHED', `${details.createdAt} by ${details.createdBy}`],
        ...details.attestations.flatMap((a) => [
          ['ATTESTATION', `${a.digest} (${a.format})`],
          ['  SIGNED BY', a.signers.join(', ')],
          ['  BUILDER', a.builder],
          ...a.sources.map((source) => ['  SOURCE', `${source.repository}@${source.commit}`]),
        ]),
        ...(details.attestations.length === 0 ? [['ATTESTATION', 'none']] : []),
        ...details.policies.map((p) => [
          'POLICY',
          `${p.policy} (${p.scope || 'every target'}): ${p.allowed ? 'allowed' : `refused: ${p.reasons.map((r) => `${r.rule}: ${r.message}`).join('; ')}`}`,
        ]),
      ]);
    });
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

async function digestOf(api: ApiClient, ref: string): Promise<string> {
  const at = ref.lastIndexOf('@');
  const { items } = await api.call(ReleaseList, 'GET', '/v1/bundles');
  const found = items.find((i) => at > 0 && i.name === ref.slice(0, at) && i.version === ref.slice(at + 1));
  if (found === undefined)
    throw new FlotillaError(
      'NOT_FOUND',
      `release ${ref} has not been published (give name@version or a sha256: digest)`,
    );
  return found.digest;
}

/** One line per policy whose artifact rules refuse the release. */
function refusals(verdicts: readonly ReleasePolicyVerdict[]): string[] {
  return verdicts
    .filter((v) => !v.allowed)
    .map(
      (v) =>
        `policy ${v.policy} refuses this release for targets in '${v.scope || 'every target'}': ${v.reasons.map((r) => `${r.rule}: ${r.message}`).join('; ')}`,
    );
}
