import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FlotillaError, parseJson } from '@flotilla/protocol';
import { policyRef, SignedPolicySet } from '@flotilla/protocol/policy';
import type { ApiClient } from '../api-client.ts';
import { readKeyFile } from '../../key-files.ts';
import { outputFormat, print } from '../output.ts';
import { assertSigned, withSignature, writeDraftFile } from '../signed-draft.ts';

function readSet(file: string): SignedPolicySet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `cannot read ${file}; draft one with \`flotilla policy-set draft --out ${file}\``,
    );
  }
  const parsed = SignedPolicySet.safeParse(parseJson(text, file));
  if (!parsed.success)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `${file} is not a policy set: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  return parsed.data;
}

/**
 * `flotilla policy-set`: the live policies as one versioned set that the trust root's policy
 * keys sign away from the hub, as trust roots are (docs/policy.md, "Signed policy sets").
 */
export function policySetCommand(program: Command, client: () => ApiClient): void {
  const sets = program
    .command('policy-set')
    .description(
      'the live policies as one versioned set signed by policy keys: draft, sign away from the hub, publish',
    );
  sets
    .command('draft')
    .description('write the live policies as the next policy set version, unsigned, to a file')
    .requiredOption('--out <file>', 'where to write the draft')
    .action(async (flags: { out: string }) => {
      if (existsSync(flags.out)) throw new FlotillaError('CONFLICT', `${flags.out} exists; refusing to overwrite it`);
      const draft = await client().call(SignedPolicySet, 'GET', '/v1/policy-sets/draft');
      writeDraftFile(flags.out, draft);
      process.stdout.write(
        `policy set v${draft.policySet.version} (${draft.policySet.policies.map(policyRef).join(', ') || 'no policies'}) drafted in ${flags.out}; sign it with: flotilla policy-set sign ${flags.out} --key POLICY-KEY-FILE\n`,
      );
    });
  sets
    .command('sign <file>')
    .description('add the signature of a policy key to a policy set draft (needs no hub: run it where the key is)')
    .requiredOption('--key <file>', 'the policy key file')
    .action((file: string, flags: { key: string }) => {
      const signed = readSet(file);
      const { keyId, signatures } = withSignature(
        signed.signatures,
        'policy-set',
        signed.policySet,
        readKeyFile(flags.key),
      );
      writeDraftFile(file, { ...signed, signatures });
      process.stdout.write(
        `signed policy set v${signed.policySet.version} with key ${keyId}; ${signatures.length} signature(s) so far\n`,
      );
    });
  sets
    .command('publish <file>')
    .description('publish a signed policy set; envelopes made from now on carry it')
    .action(async (file: string) => {
      const signed = readSet(file);
      assertSigned(file, signed.signatures, `flotilla policy-set sign ${file} --key POLICY-KEY-FILE`);
      const published = await client().call(SignedPolicySet, 'POST', '/v1/policy-sets', signed);
      process.stdout.write(`policy set v${published.policySet.version} published\n`);
    });
  sets
    .command('show')
    .description('the newest published policy set')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const current = await client().call(SignedPolicySet, 'GET', '/v1/policy-sets/current');
      print(outputFormat(flags.output), current, () => [
        ['VERSION', 'ISSUED', 'POLICIES', 'SIGNERS'],
        [
          String(current.policySet.version),
          current.policySet.issuedAt,
          current.policySet.policies.map(policyRef).join(', '),
          current.signatures.map((s) => s.keyId).join(', '),
        ],
      ]);
    });
}
