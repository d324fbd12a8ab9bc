import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FlotillaError, keyIdOf, SignedTrustRoot } from '@flotilla/protocol';
import { attestationKeyOf } from '@flotilla/protocol/policy';
import type { ApiClient } from '../api-client.ts';
import { loadOrCreateKeyFile, readKeyFile } from '../../key-files.ts';
import { outputFormat, print } from '../output.ts';

export function keysCommand(program: Command, client: () => ApiClient): void {
  const keys = program
    .command('keys')
    .description('release keys: made and held by authors, registered in the trust root');
  keys
    .command('create')
    .description("make a release key pair in a file of mode 0600 (on the author's machine, not the hub)")
    .requiredOption('--out <file>', 'where to write the key pair')
    .action((flags: { out: string }) => {
      if (existsSync(flags.out))
        throw new FlotillaError('CONFLICT', `${flags.out} exists; refusing to overwrite a key`);
      const key = loadOrCreateKeyFile(flags.out);
      process.stdout.write(
        `created release key ${keyIdOf(key.publicKey)} in ${flags.out}\npublic key: ${key.publicKey}\nregister it with: flotilla keys register ${flags.out}\n`,
      );
    });
  keys
    .command('register <file>')
    .description('add the public half of a release key to the trust root, as a new trust root version')
    .option('--name <name>', 'a name for the key, such as the team that holds it')
    .action(async (file: string, flags: { name?: string }) => {
      const key = readKeyFile(file);
      const signed = await client().call(SignedTrustRoot, 'POST', '/v1/trust-root/release-keys', {
        publicKey: key.publicKey,
        ...(flags.name === undefined ? {} : { name: flags.name }),
      });
      process.stdout.write(`release key ${keyIdOf(key.publicKey)} is in trust root v${signed.trustRoot.version}\n`);
    });
  keys
    .command('register-approver')
    .description("add an approver's public key, bound to the person it belongs to, to the trust root (docs/policy.md)")
    .requiredOption('--public-key <key>', 'the public key the approver printed with flotilla keys create')
    .requiredOption('--identity <who>', 'the person, such as alice@acme.example: only their approvals it may sign')
    .action(async (flags: { publicKey: string; identity: string }) => {
      const signed = await client().call(SignedTrustRoot, 'POST', '/v1/trust-root/approver-keys', {
        publicKey: flags.publicKey,
        identity: flags.identity,
      });
      process.stdout.write(
        `approver key ${keyIdOf(flags.publicKey)} of ${flags.identity} is in trust root v${signed.trustRoot.version}\n`,
      );
    });
  keys
    .command('register-attestation <key>')
    .description(
      'add a key that signs provenance attestations (an Ed25519 public key, or a PEM file such as cosign.pub) to the trust root',
    )
    .option('--name <name>', 'a name for the key, such as the CI builder that holds it')
    .action(async (key: string, flags: { name?: string }) => {
      const publicKey = existsSync(key) ? readFileSync(key, 'utf8') : key;
      const signed = await client().call(SignedTrustRoot, 'POST', '/v1/trust-root/attestation-keys', {
        publicKey,
        ...(flags.name === undefined ? {} : { name: flags.name }),
      });
      const added = attestationKeyOf(publicKey);
      process.stdout.write(`attestation key ${added.id} is in trust root v${signed.trustRoot.version}\n`);
    });
  keys
    .command('ls')
    .description('list the keys of the current trust root')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const signed = await client().call(SignedTrustRoot, 'GET', '/v1/trust-root');
      print(outputFormat(flags.output), signed, () => [
        ['ID', 'ROLES', 'NAME'],
        ...signed.trustRoot.keys.map((k) => [k.id, k.roles.join(','), k.name ?? '']),
        ...(signed.trustRoot.attestationKeys ?? []).map((k) => [k.id, `attestation(${k.algorithm})`, k.name ?? '']),
      ]);
    });
}
