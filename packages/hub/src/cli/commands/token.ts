import { Option, type Command } from 'commander';
import { ApiToken, ApiTokenList, CreatedApiToken, type OperatorRole } from '@flotilla/protocol/api';
import type { ApiClient } from '../api-client.ts';
import { outputFormat, print } from '../output.ts';
import { parseDuration } from '../parse-args.ts';

const ROLES: readonly OperatorRole[] = ['viewer', 'deployer', 'approver', 'admin'];

function state(token: ApiToken, now = Date.now()): string {
  if (token.revokedAt !== undefined) return 'revoked';
  if (token.expiresAt !== undefined && Date.parse(token.expiresAt) <= now) return 'expired';
  return 'active';
}

/**
 * `flotilla token`: operators' API tokens (docs/security.md, "Operators"). Each has a name
 * (the actor of everything done with it), a role, and optionally a scope and a lifetime.
 */
export function tokenCommand(program: Command, client: () => ApiClient): void {
  const token = program.command('token').description("operators' API tokens: roles, scopes and lifetimes");
  token
    .command('create')
    .description('create an API token; its secret is shown once')
    .requiredOption('--name <name>', 'who holds it: the actor of everything done with it')
    .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
    .option('--scope <query>', "only the targets this fleet query selects, such as 'region=eu-*'")
    .option('--ttl <duration>', 'how long it is valid, such as 12h or 90d; default until revoked')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { name: string; role: OperatorRole; scope?: string; ttl?: string; output?: string }) => {
      const created = await client().call(CreatedApiToken, 'POST', '/v1/tokens', {
        name: flags.name,
        role: flags.role,
        ...(flags.scope === undefined ? {} : { scope: flags.scope }),
        ...(flags.ttl === undefined ? {} : { ttlSeconds: parseDuration(flags.ttl, '--ttl') / 1000 }),
      });
      print(outputFormat(flags.output), created, () => [
        ['TOKEN', 'ID', 'NAME', 'ROLE', 'SCOPE', 'EXPIRES'],
        [created.token, created.id, created.name, created.role, created.scope ?? '(all)', created.expiresAt ?? 'never'],
      ]);
    });
  token
    .command('ls')
    .description('every API token, newest first (secrets are never shown again)')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const list = await client().call(ApiTokenList, 'GET', '/v1/tokens');
      print(outputFormat(flags.output), list, () => [
        ['ID', 'NAME', 'ROLE', 'SCOPE', 'STATE', 'CREATED', 'BY', 'EXPIRES'],
        ...list.items.map((item) => [
          item.id,
          item.name,
          item.role,
          item.scope ?? '(all)',
          state(item),
          item.createdAt,
          item.createdBy,
          item.expiresAt ?? 'never',
        ]),
      ]);
    });
  token
    .command('revoke <id-or-name>')
    .description('revoke a token at once: every later request with it is refused')
    .action(async (ref: string) => {
      const revoked = await client().call(ApiToken, 'DELETE', `/v1/tokens/${encodeURIComponent(ref)}`);
      process.stdout.write(`token ${revoked.id} (${revoked.name}, ${revoked.role}) revoked\n`);
    });
}
