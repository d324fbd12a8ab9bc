import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { KeyRole } from '@flotilla/protocol';
import {
  FlotillaError,
  nextTrustRoot,
  PublicKey,
  SignedTrustRoot,
  TrustRootDraft,
  type TrustRootChange,
} from '@flotilla/protocol';
import { attestationKeyOf } from '@flotilla/protocol/policy';
import type { ApiClient } from '../api-client.ts';
import { readKeyFile } from '../../key-files.ts';
import { assertSigned, withSignature, writeDraftFile } from '../signed-draft.ts';

/** A public key given on the command line: the key itself, or a key file to read it from. */
function publicKeyOf(value: string, flag: string): string {
  if (PublicKey.safeParse(value).success) return value;
  if (existsSync(value)) return readKeyFile(value).publicKey;
  throw new FlotillaError(
    'VALIDATION_FAILED',
    `${flag} takes a public key (43 base64url characters) or a key file; '${value}' is neither`,
  );
}

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new FlotillaError('VALIDATION_FAILED', `${flag} must be a whole number of at least 1, received '${value}'`);
  return n;
}

function readDraft(file: string): TrustRootDraft {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `cannot read ${file}; make a draft with \`flotilla root draft --out ${file}\``,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = TrustRootDraft.safeParse(value);
  if (!parsed.success)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `${file} is not a trust root draft: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  return parsed.data;
}

interface DraftFlags {
  out: string;
  addReleaseKey?: string[];
  addRootKey?: string[];
  addHubKey?: string[];
  addAttestationKey?: string[];
  addPolicyKey?: string[];
  policyThreshold?: string;
  requirePolicySets?: boolean;
  removeKey?: string[];
  rootThreshold?: string;
  releaseThreshold?: string;
}

/**
 * `flotilla root`: trust root versions signed away from the hub. `draft` (online) makes the next
 * version of the hub's trust root into a file; `sign` (offline, where a root key is) adds one
 * signature to it; `publish` (online) hands it to the hub, which accepts it only with the
 * thresholds of root signatures of both the current version and the new one.
 */
export function rootCommand(program: Command, client: () => ApiClient): void {
  const root = program
    .command('root')
    .description('trust root versions signed offline: draft, sign where the root keys are, publish');
  root
    .command('draft')
    .description('write the next trust root version, unsigned, to a file')
    .requiredOption('--out <file>', 'where to write the draft')
    .option('--add-release-key <key...>', 'a public key or key file to add as a release key')
    .option('--add-root-key <key...>', 'a public key or key file to add as a root key')
    .option('--add-hub-key <key...>', 'a public key or key file to add as a hub key')
    .option(
      '--add-attestation-key <key...>',
      'a key that signs provenance attestations: an Ed25519 public key, or a PEM file such as cosign.pub',
    )
    .option('--add-policy-key <key...>', 'a public key or key file to add as a policy key (signs policy sets)')
    .option('--policy-threshold <n>', 'policy signatures a policy set needs')
    .option('--require-policy-sets', 'agents refuse an envelope that brings a release without a signed policy set')
    .option('--remove-key <id...>', 'a key id to take out (flotilla keys ls)')
    .option('--root-threshold <n>', 'root signatures a trust root version needs')
    .option('--release-threshold <n>', 'release signatures a bundle needs')
    .action(async (flags: DraftFlags) => {
      if (existsSync(flags.out)) throw new FlotillaError('CONFLICT', `${flags.out} exists; refusing to overwrite it`);
      const adding = (keys: string[] | undefined, role: KeyRole, flag: string) =>
        (keys ?? []).map((k) => ({ publicKey: publicKeyOf(k, flag), roles: [role] }));
      const rootThreshold = wholeNumber(flags.rootThreshold, '--root-threshold');
      const releaseThreshold = wholeNumber(flags.releaseThreshold, '--release-threshold');
      const policyThreshold = wholeNumber(flags.policyThreshold, '--policy-threshold');
      const change: TrustRootChange = {
        addKeys: [
          ...adding(flags.addReleaseKey, 'release', '--add-release-key'),
          ...adding(flags.addRootKey, 'root', '--add-root-key'),
          ...adding(flags.addHubKey, 'hub', '--add-hub-key'),
          ...adding(flags.addPolicyKey, 'policy', '--add-policy-key'),
        ],
        addAttestationKeys: (flags.addAttestationKey ?? []).map((k) =>
          attestationKeyOf(existsSync(k) ? readFileSync(k, 'utf8') : k),
        ),
        removeKeyIds: flags.removeKey ?? [],
        thresholds: {
          ...(rootThreshold === undefined ? {} : { root: rootThreshold }),
          ...(releaseThreshold === undefined ? {} : { release: releaseThreshold }),
          ...(policyThreshold === undefined ? {} : { policy: policyThreshold }),
        },
        ...(flags.requirePolicySets === true ? { requirePolicySets: true } : {}),
      };
      const current = await client().call(SignedTrustRoot, 'GET', '/v1/trust-root');
      const next = nextTrustRoot(current.trustRoot, change, new Date().toISOString());
      writeDraftFile(flags.out, { trustRoot: next, signatures: [] });
      process.stdout.write(
        `trust root v${next.version} drafted in ${flags.out}; it needs ${current.trustRoot.thresholds.root} signature(s) of the root keys of v${current.trustRoot.version} and ${next.thresholds.root} of its own: flotilla root sign ${flags.out} --key ROOT-KEY-FILE\n`,
      );
    });
  root
    .command('sign <file>')
    .description('add the signature of a root key to a trust root draft (needs no hub: run it where the key is)')
    .requiredOption('--key <file>', 'the root key file')
    .action((file: string, flags: { key: string }) => {
      const draft = readDraft(file);
      const { keyId, signatures } = withSignature(
        draft.signatures,
        'trust-root',
        draft.trustRoot,
        readKeyFile(flags.key),
      );
      writeDraftFile(file, { ...draft, signatures });
      process.stdout.write(
        `signed trust root v${draft.trustRoot.version} with key ${keyId}; ${signatures.length} signature(s) so far\n`,
      );
    });
  root
    .command('publish <file>')
    .description('publish a signed trust root version to the hub; agents move to it at their next envelope')
    .action(async (file: string) => {
      const draft = readDraft(file);
      assertSigned(file, draft.signatures, `flotilla root sign ${file} --key ROOT-KEY-FILE`);
      const published = await client().call(SignedTrustRoot, 'POST', '/v1/trust-root', draft);
      process.stdout.write(`trust root v${published.trustRoot.version} published\n`);
    });
}
