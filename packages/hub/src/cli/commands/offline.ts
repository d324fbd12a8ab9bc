import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { FlotillaError } from '@flotilla/protocol';
import { OfflineExportPlan, OfflineSettings, OfflineTargetList } from '@flotilla/protocol/api';
import { SignedOfflineReceipt, writeSignedTransfer, type TransferImages } from '@flotilla/protocol/offline';
import { writeFileDurably } from '@flotilla/runtime';
import type { ApiClient } from '../api-client.ts';
import { ago, outputFormat, print } from '../output.ts';
import { parseDuration } from '../parse-args.ts';
import { ociLayoutImages } from '../../features/offline/oci-layout-images.ts';
import { writeReceiptFile } from '../../features/offline/import-reports.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function refuseExisting(path: string): void {
  if (existsSync(path))
    throw new FlotillaError('CONFLICT', `${path} exists; choose another file, or remove it first`, { file: path });
}

/**
 * `flotilla offline`: the air-gap exchange (docs/air-gap.md). It goes through the hub's API,
 * like every other operator command, rather than opening the hub's database: the running hub
 * is the only writer of its database and its audit chain, so an export or an import is
 * audited under the operator's own token and role, and works from any machine that reaches
 * the hub. Image blobs never pass through the hub: the hub signs their digests, and this
 * command streams them from the OCI layout into the file.
 */
export function offlineCommand(program: Command, client: () => ApiClient): void {
  const offline = program
    .command('offline')
    .description('air-gapped sites: transfer files out, reports files in, receipts back (docs/air-gap.md)');

  offline
    .command('export')
    .description('write a signed transfer file for one target or every target a query selects')
    .option('--target <id>', 'a target id or name (repeat for several)', collect)
    .option('-q, --query <query>', 'the targets a fleet query selects')
    .requiredOption('--out <file>', 'the transfer file to write (it must not exist)')
    .option('--images <dir>', 'an OCI image layout to carry images from (as skopeo copy … oci:DIR writes)')
    .option('--image <ref>', 'only this image of the layout (its org.opencontainers.image.ref.name); repeat', collect)
    .option(
      '--trust-root-since <version>',
      'the trust-root version the site holds (default: what its last reports file said, else 0: carry them all)',
    )
    .action(
      async (flags: {
        target?: string[];
        query?: string;
        out: string;
        images?: string;
        image?: string[];
        trustRootSince?: string;
      }) => {
        if ((flags.target === undefined) === (flags.query === undefined))
          throw new FlotillaError('CONFIG_INVALID', 'give --target ID (one or more) or -q QUERY, not both');
        if (flags.image !== undefined && flags.images === undefined)
          throw new FlotillaError('CONFIG_INVALID', '--image names an image of the layout given with --images DIR');
        const since = flags.trustRootSince === undefined ? undefined : Number(flags.trustRootSince);
        if (since !== undefined && (!Number.isInteger(since) || since < 0))
          throw new FlotillaError(
            'CONFIG_INVALID',
            `--trust-root-since must be a version number, received '${flags.trustRootSince}'`,
          );
        refuseExisting(flags.out);
        const api = client();
        const images: TransferImages | undefined =
          flags.images === undefined ? undefined : await ociLayoutImages(flags.images, flags.image);
        const targets =
          flags.target === undefined ? undefined : await Promise.all(flags.target.map((t) => api.targetId(t)));
        const plan = await api.call(OfflineExportPlan, 'POST', '/v1/offline/exports', {
          ...(targets === undefined ? { query: flags.query } : { targets }),
          ...(since === undefined ? {} : { trustRootSince: since }),
          ...(images === undefined
            ? {}
            : {
                images: { index: images.index, blobs: images.blobs.map((b) => ({ digest: b.digest, size: b.size })) },
              }),
        });
        const { manifest } = plan.signed;
        const hash = createHash('sha256');
        async function* hashed(): AsyncGenerator<Uint8Array> {
          for await (const chunk of writeSignedTransfer(
            {
              hubId: manifest.hubId,
              createdAt: manifest.createdAt,
              trustRootSince: manifest.trustRootSince,
              trustRoots: plan.trustRoots,
              envelopes: plan.envelopes,
              releases: plan.releases,
              images,
            },
            plan.signed,
          )) {
            hash.update(chunk);
            yield chunk;
          }
        }
        let bytes: number;
        try {
          bytes = await writeFileDurably(flags.out, hashed(), 0o600);
        } catch (error) {
          // The documents as this CLI read them no longer make the manifest the hub signed.
          if (error instanceof TypeError)
            throw new FlotillaError(
              'VALIDATION_FAILED',
              `the hub's export does not match the manifest it signed (${error.message}); is this CLI older than the hub?`,
            );
          throw error;
        }
        process.stdout.write(
          `wrote ${flags.out}: ${bytes} bytes, sha256:${hash.digest('hex')}, for ${manifest.targets
            .map((t) => `${t.targetId} generation ${t.generation}`)
            .join(', ')}\n`,
        );
      },
    );

  offline
    .command('import-reports <file>')
    .description("import a site's reports file exactly once, and write the signed receipt to carry back")
    .option('--receipt <file>', 'where to write the receipt (default FILE.receipt.json)')
    .action(async (file: string, flags: { receipt?: string }) => {
      const out = flags.receipt ?? `${file}.receipt.json`;
      refuseExisting(out);
      if (!existsSync(file)) throw new FlotillaError('NOT_FOUND', `${file} does not exist`, { file });
      // The hub imports a reports file exactly once, so a second replica may be sent it again.
      const signed = await client().upload(
        SignedOfflineReceipt,
        '/v1/offline/reports',
        'application/x-ndjson',
        () => createReadStream(file),
        { repeatable: true },
      );
      await writeReceiptFile(out, signed);
      const { receipt } = signed;
      const count = (ranges: readonly { from: number; to: number }[]) =>
        ranges.reduce((n, r) => n + r.to - r.from + 1, 0);
      process.stdout.write(
        `imported reports of ${receipt.targetId} up to seq ${receipt.head.seq}: ${count(receipt.accepted)} new, ${count(receipt.duplicates)} already held, ${receipt.forks.length} forked, ${count(receipt.gaps)} lost\nreceipt: ${out}\n`,
      );
      if (receipt.forks.length > 0)
        process.stderr.write(
          `warning: the hub holds other reports for seq ${receipt.forks.join(', ')}: the site's history forked\n`,
        );
    });

  offline
    .command('expiry <target> <duration>')
    .description("how long the envelope in a target's transfer files stays valid, such as 14d (at most 90d)")
    .action(async (target: string, duration: string) => {
      const api = client();
      const id = await api.targetId(target);
      const seconds = parseDuration(duration, 'the expiry') / 1000;
      await api.call(OfflineSettings, 'PUT', `/v1/offline/targets/${id}`, { expirySeconds: seconds });
      process.stdout.write(`transfer files for ${id} now carry envelopes valid for ${duration}\n`);
    });

  offline
    .command('status')
    .description('targets that sync by file: how, their last file and last contact, generations')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const list = await client().call(OfflineTargetList, 'GET', '/v1/offline/targets');
      print(outputFormat(flags.output), list, () => [
        ['TARGET', 'NAME', 'SYNC', 'LAST FILE', 'LAST CONTACT', 'EXPORTED', 'ACKED', 'TRUST ROOT', 'EXPIRY'],
        ...list.items.map((t) => [
          t.targetId,
          t.name,
          t.sync,
          t.lastFileAt === null ? '-' : ago(t.lastFileAt),
          t.lastContactAt === null ? '-' : ago(t.lastContactAt),
          String(t.exportedGeneration ?? '-'),
          String(t.acknowledgedGeneration ?? '-'),
          t.trustRootVersion === null ? '-' : `v${t.trustRootVersion}`,
          `${Math.round(t.expirySeconds / 86_400)}d`,
        ]),
      ]);
    });
}
