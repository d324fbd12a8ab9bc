import type { Command } from 'commander';
import { FlotillaError } from '@flotilla/protocol';
import { EnrollmentToken, EnrollmentTokenList } from '@flotilla/protocol/api';
import type { ApiClient } from '../api-client.ts';
import { outputFormat, print } from '../output.ts';
import { parseDuration, parseLabels } from '../parse-args.ts';

export function enrollTokenCommand(program: Command, client: () => ApiClient): void {
  const tokens = program.command('enroll-token').description('tokens with which agents enroll');
  tokens
    .command('create')
    .description('create an enrollment token; its secret is shown once')
    .option('--max-uses <n>', 'how many agents may enroll with it', '1')
    .option('--ttl <duration>', 'how long it is valid, e.g. 30m, 24h, 7d', '24h')
    .option('--label <key=value...>', 'labels preset on every target enrolled with it')
    .option('--description <text>', 'what the token is for')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(
      async (flags: { maxUses: string; ttl: string; label?: string[]; description?: string; output?: string }) => {
        const maxUses = Number(flags.maxUses);
        if (!Number.isInteger(maxUses) || maxUses < 1)
          throw new FlotillaError(
            'CONFIG_INVALID',
            `--max-uses must be a whole number of at least 1, received '${flags.maxUses}'`,
          );
        const created = await client().call(EnrollmentToken, 'POST', '/v1/enrollment-tokens', {
          maxUses,
          ttlSeconds: parseDuration(flags.ttl, '--ttl') / 1000,
          labels: parseLabels(flags.label ?? []),
          ...(flags.description === undefined ? {} : { description: flags.description }),
        });
        print(outputFormat(flags.output), created, () => [
          ['TOKEN', 'ID', 'USES', 'EXPIRES'],
          [created.token ?? '', created.id, `0/${created.maxUses}`, created.expiresAt],
        ]);
      },
    );
  tokens
    .command('revoke <id>')
    .description('revoke an enrollment token: no more agents enroll with it (enrolled ones keep their identity)')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (id: string, flags: { output?: string }) => {
      const revoked = await client().call(
        EnrollmentToken,
        'POST',
        `/v1/enrollment-tokens/${encodeURIComponent(id)}/revoke`,
      );
      print(outputFormat(flags.output), revoked, () => [
        ['ID', 'USES', 'REVOKED'],
        [revoked.id, `${revoked.uses}/${revoked.maxUses}`, revoked.revokedAt ?? ''],
      ]);
    });
  tokens
    .command('ls')
    .description('list enrollment tokens (their secrets are never shown again)')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const { items } = await client().call(EnrollmentTokenList, 'GET', '/v1/enrollment-tokens');
      print(outputFormat(flags.output), items, () => [
        ['ID', 'USES', 'EXPIRES', 'REVOKED', 'LABELS'],
        ...items.map((t) => [
          t.id,
          `${t.uses}/${t.maxUses}`,
          t.expiresAt,
          t.revokedAt ?? '',
          Object.entries(t.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        ]),
      ]);
    });
}
