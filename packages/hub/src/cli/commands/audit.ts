import { closeSync, createWriteStream, openSync, readFileSync, readSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import {
  FlotillaError,
  keyIdOf,
  KeyPair,
  keysWithRole,
  messageOf,
  parseJson,
  PublicKey,
  SignedTrustRoot,
  type TrustedKey,
  verifyTrustRoot,
} from '@flotilla/protocol';
import { AuditPage, AuditPruneResult } from '@flotilla/protocol/api';
import {
  SignedAuditCheckpoint,
  verifyAuditExport,
  type AuditEntry,
  type AuditVerifyResult,
} from '@flotilla/protocol/audit';
import type { ApiClient } from '../api-client.ts';
import { outputFormat, print, type OutputFormat } from '../output.ts';
import { parseDuration } from '../parse-args.ts';

interface NarrowingFlags {
  since?: string;
  until?: string;
  actor?: string;
  actorKind?: string;
  action?: string;
  outcome?: string[];
  limit: string;
  order?: string;
  cursor?: string;
  output?: string;
}

/** The most entries one request returns; `--limit` above it pages through the cursor. */
const PAGE_MAX = 1000;

/**
 * `24h`, `7d` (that long before now) or an RFC 3339 time, as the time the API expects.
 *
 * @example cliTime('24h', '--since', Date.parse('2025-06-02T00:00:00Z')) // '2025-06-01T00:00:00.000Z'
 */
function cliTime(text: string, option: string, now = Date.now()): string {
  if (/^\s*\d+[smhd]\s*$/.test(text)) return new Date(now - parseDuration(text, option)).toISOString();
  const ms = /^\d{4}-\d{2}-\d{2}([T ]|$)/.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${option} must be a duration before now (30m, 24h, 7d) or a time such as 2025-06-01T09:00:00Z; received '${text}'`,
    );
  return new Date(ms).toISOString();
}

function positive(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new FlotillaError('CONFIG_INVALID', `${option} must be a whole number of at least 1; received '${text}'`);
  return n;
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function narrowingParams(flags: NarrowingFlags, now: number): URLSearchParams {
  const params = new URLSearchParams();
  if (flags.since !== undefined) params.set('since', cliTime(flags.since, '--since', now));
  if (flags.until !== undefined) params.set('until', cliTime(flags.until, '--until', now));
  if (flags.actor !== undefined) params.set('actor', flags.actor);
  if (flags.actorKind !== undefined) params.set('actorKind', flags.actorKind);
  if (flags.action !== undefined) params.set('action', flags.action);
  const outcomes = list(flags.outcome);
  if (outcomes.length > 0) params.set('outcome', outcomes.join(','));
  if (flags.order !== undefined) params.set('order', flags.order);
  return params;
}

/** Reads pages until `limit` entries or the end; the cursor of the last page read is returned for the next call. */
async function readPages(
  client: ApiClient,
  path: string,
  params: URLSearchParams,
  limit: number,
  cursor: string | undefined,
): Promise<AuditPage> {
  const entries: AuditEntry[] = [];
  let next: string | null = cursor ?? null;
  do {
    const page = new URLSearchParams(params);
    page.set('limit', String(Math.min(PAGE_MAX, limit - entries.length)));
    if (next !== null) page.set('cursor', next);
    const answer = await client.call(AuditPage, 'GET', `${path}?${page.toString()}`);
    entries.push(...answer.entries);
    next = answer.nextCursor;
  } while (next !== null && entries.length < limit);
  return { entries, nextCursor: next };
}

function summary(entry: AuditEntry): string {
  const parts: string[] = [];
  if (entry.reason !== null) parts.push(entry.reason);
  for (const [key, value] of Object.entries(entry.details)) {
    if (key === 'message') continue;
    parts.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return parts.join(' ');
}

function subjects(entry: AuditEntry): string {
  if (entry.subjects.length === 0) return '-';
  return entry.subjects.length === 1 ? entry.subjects[0]! : `${entry.subjects[0]!} +${entry.subjects.length - 1}`;
}

function printPage(format: OutputFormat, page: AuditPage, columns: 'all' | 'history'): void {
  print(format, page, () => [
    columns === 'all'
      ? ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'TARGETS', 'DETAILS']
      : ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'DETAILS'],
    ...page.entries.map((e) => {
      const row = [
        String(e.seq),
        e.time.replace(/\.\d{3}Z$/, 'Z'),
        `${e.actor.kind}:${e.actor.id}`,
        e.action,
        e.outcome,
      ];
      return columns === 'all' ? [...row, subjects(e), summary(e)] : [...row, summary(e)];
    }),
  ]);
  if (format === 'table' && page.entries.length === 0) process.stdout.write('no audit entries match\n');
  if (format === 'table' && page.nextCursor !== null)
    process.stderr.write(`more entries: repeat with --cursor ${page.nextCursor}\n`);
}

function narrowingOptions(command: Command, defaultLimit: string): Command {
  return command
    .option('--since <time>', 'entries at or after: a duration before now (30m, 24h, 7d) or an RFC 3339 time')
    .option('--until <time>', 'entries before: a duration before now or an RFC 3339 time')
    .option('--actor <id>', 'who acted: a user (token name), a target id, or a system component')
    .option('--actor-kind <kind>', 'user, agent or system')
    .option('--action <action>', 'an action, such as target.disable, or a family, such as target.*')
    .option('--outcome <outcome...>', 'success, refused or failure (repeat or comma-separate for several)')
    .option('--limit <n>', 'at most this many entries', defaultLimit)
    .option('--order <order>', 'desc (newest first, the default) or asc')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('-o, --output <format>', 'table, json or yaml');
}

/** Lines of a file, read a megabyte at a time, so a large export is verified in bounded memory. */
function* fileLines(path: string): Generator<string, void, undefined> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
    );
  }
  try {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    const decoder = new StringDecoder('utf8');
    let rest = '';
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      const text = rest + decoder.write(buffer.subarray(0, read));
      const lines = text.split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
    yield rest + decoder.end();
  } finally {
    closeSync(fd);
  }
}

/** `--key`: a base64url public key, or a file holding one (a key pair file, `{ publicKey }`, or the bare key). */
function trustedKey(value: string): TrustedKey {
  let publicKey = value.trim();
  if (!PublicKey.safeParse(publicKey).success) {
    let text: string;
    try {
      text = readFileSync(value, 'utf8').trim();
    } catch {
      throw new FlotillaError(
        'CONFIG_INVALID',
        `--key must be an Ed25519 public key (43 base64url characters) or a file holding one; '${value}' is neither`,
      );
    }
    let parsed: unknown = text;
    try {
      parsed = parseJson(text, `--key ${value}`);
    } catch {
      // Not JSON: the file holds the bare key.
    }
    const candidate =
      typeof parsed === 'string'
        ? parsed
        : (KeyPair.safeParse(parsed).data?.publicKey ?? (parsed as { publicKey?: unknown } | null)?.publicKey);
    if (typeof candidate !== 'string' || !PublicKey.safeParse(candidate).success)
      throw new FlotillaError(
        'CONFIG_INVALID',
        `${value} holds no Ed25519 public key (a key pair file, { "publicKey": … } or the bare key)`,
      );
    publicKey = candidate;
  }
  return { id: keyIdOf(publicKey), publicKey };
}

/** `--trust-root`: the hub keys of a trust root file, once its own root signatures check out. */
function trustRootKeys(path: string): TrustedKey[] {
  let signed: SignedTrustRoot;
  try {
    signed = SignedTrustRoot.parse(parseJson(readFileSync(path, 'utf8'), `${path}`));
  } catch (error) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `${path} is not a signed trust root (as GET /v1/trust-root answers): ${messageOf(error).split('\n')[0]}`,
    );
  }
  return keysWithRole(verifyTrustRoot(signed), 'hub').map((k) => ({ id: k.id, publicKey: k.publicKey }));
}

/**
 * Checkpoints kept from earlier (`--checkpoint FILE`): signed checkpoints one per line (as
 * `flotilla audit checkpoint -o json` prints them compacted), or an earlier export, whose
 * checkpoint and seal lines are taken.
 */
function keptCheckpoints(paths: readonly string[]): SignedAuditCheckpoint[] {
  const out: SignedAuditCheckpoint[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new FlotillaError(
        'CONFIG_INVALID',
        `cannot read --checkpoint ${path}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
      );
    }
    const trimmed = text.trim();
    // One JSON document (pretty-printed or not), else JSON Lines.
    const values: unknown[] = isJson(trimmed)
      ? [parseJson(trimmed, `${path}`)]
      : trimmed
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => parseLine(l, path));
    for (const value of values) {
      const { checkpoint, signature } = (value ?? {}) as Partial<SignedAuditCheckpoint>;
      if (checkpoint !== undefined && signature !== undefined) out.push({ checkpoint, signature });
    }
  }
  return out;
}

function parseLine(line: string, path: string): unknown {
  try {
    return parseJson(line, `${path}`);
  } catch {
    throw new FlotillaError('CONFIG_INVALID', `--checkpoint ${path} is neither a JSON document nor JSON Lines`);
  }
}

function isJson(text: string): boolean {
  try {
    parseJson(text, 'the checkpoint file');
    return true;
  } catch {
    return false;
  }
}

/** The one-line verdict, then on failure one line per problem: line, seq, kind and what is wrong. */
function formatVerdict(file: string, result: AuditVerifyResult, keys: readonly TrustedKey[] | undefined): string {
  const range = result.range === null ? 'no entries' : `seqs ${result.range.from}-${result.range.to}`;
  const counts = `${result.entries} entries in full, ${result.elided} elided, ${result.checkpoints} signatures checked, ${range}`;
  if (result.ok) {
    const signed =
      result.signedThrough === null ? 'no signature covers it' : `signed through seq ${result.signedThrough}`;
    const origin =
      keys === undefined
        ? ' (checked only against the keys the file carries: it is intact, but whose it is was not checked; pass --key or --trust-root)'
        : ` by a trusted key (${keys.map((k) => k.id).join(', ')})`;
    return `OK ${file}: ${counts}; ${signed}${origin}\n`;
  }
  const total = result.problems.length + result.problemsOmitted;
  const first = result.problems[0]!;
  const lines = [`FAILED ${file}: ${total} problem${total === 1 ? '' : 's'}; first at ${where(first)}: ${first.kind}`];
  for (const p of result.problems) lines.push(`  ${where(p)}: ${p.kind}: ${p.message}`);
  if (result.problemsOmitted > 0) lines.push(`  … and ${result.problemsOmitted} more`);
  return `${lines.join('\n')}\n`;
}

function where(problem: { line: number | null; seq: number | null }): string {
  return (
    [
      problem.line === null ? undefined : `line ${problem.line}`,
      problem.seq === null ? undefined : `seq ${problem.seq}`,
    ]
      .filter((s) => s !== undefined)
      .join(', ') || 'end of file'
  );
}

/**
 * `flotilla audit`: query the trail, export it, verify an export offline, sign a checkpoint,
 * prune by age. `verify` needs no hub at all.
 */
export function auditCommand(program: Command, client: () => ApiClient): void {
  const audit = program
    .command('audit')
    .description('the audit trail: hash-chained, signed, queryable, exportable, verifiable offline');

  narrowingOptions(audit.command('ls').description('list audit entries, newest first'), '50')
    .option('--target <id...>', 'entries naming any of these targets (repeat or comma-separate)')
    .option('-q, --query <query>', 'entries naming a target this fleet query selects now')
    .action(async (flags: NarrowingFlags & { target?: string[]; query?: string }) => {
      const format = outputFormat(flags.output);
      const params = narrowingParams(flags, Date.now());
      const targets = list(flags.target);
      if (targets.length > 0) params.set('target', targets.join(','));
      if (flags.query !== undefined) params.set('q', flags.query);
      printPage(
        format,
        await readPages(client(), '/v1/audit', params, positive(flags.limit, '--limit'), flags.cursor),
        'all',
      );
    });

  audit
    .command('export')
    .description('export the trail as verifiable JSON Lines; with --targets, other entries appear only as hashes')
    .option('--since <time>', 'entries at or after: a duration before now (30m, 24h, 7d) or an RFC 3339 time')
    .option('--until <time>', 'entries before: a duration before now or an RFC 3339 time')
    .option('--targets <ids>', 'carry in full only entries naming these targets (comma-separated)')
    .option('-q, --query <query>', 'carry in full only entries naming a target this fleet query selects now')
    .option('--out <file>', 'write here (mode 0600) instead of to standard output')
    .action(async (flags: { since?: string; until?: string; targets?: string; query?: string; out?: string }) => {
      const now = Date.now();
      const params = new URLSearchParams();
      if (flags.since !== undefined) params.set('since', cliTime(flags.since, '--since', now));
      if (flags.until !== undefined) params.set('until', cliTime(flags.until, '--until', now));
      const targets = list(flags.targets === undefined ? undefined : [flags.targets]);
      if (targets.length > 0) params.set('target', targets.join(','));
      if (flags.query !== undefined) params.set('q', flags.query);
      const query = params.toString();
      const body = await client().stream(`/v1/audit/export${query === '' ? '' : `?${query}`}`);
      if (flags.out === undefined) {
        await pipeline(body, process.stdout);
        return;
      }
      // Written aside and renamed when complete: a file named --out is never half an export.
      const partial = `${flags.out}.partial`;
      let bytes = 0;
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      try {
        await pipeline(body, createWriteStream(partial, { mode: 0o600 }));
        renameSync(partial, flags.out);
      } catch (error) {
        rmSync(partial, { force: true });
        throw new FlotillaError(
          'HUB_UNAVAILABLE',
          `the export was cut short (${messageOf(error)}); nothing was written to ${flags.out}; export again`,
        );
      }
      process.stderr.write(
        `exported ${bytes} bytes to ${flags.out}; check it with: flotilla audit verify ${flags.out} --trust-root <trust root file>\n`,
      );
    });

  audit
    .command('verify <file>')
    .description(
      'verify an export offline (no hub needed): every hash, link, checkpoint and the seal; exits 1 if anything is wrong',
    )
    .option('--key <pubkey...>', 'a trusted hub public key (base64url), or a file holding one; repeat for several')
    .option('--trust-root <file...>', 'a signed trust root (GET /v1/trust-root) whose hub keys are trusted')
    .option('--checkpoint <file...>', 'checkpoints kept from earlier (JSON or JSONL) to hold the export against')
    .option('-o, --output <format>', 'the verdict as text (default), or the full result as json or yaml')
    .action((file: string, flags: { key?: string[]; trustRoot?: string[]; checkpoint?: string[]; output?: string }) => {
      const keys = [...(flags.key ?? []).map(trustedKey), ...(flags.trustRoot ?? []).flatMap(trustRootKeys)];
      const trusted = keys.length > 0 ? keys : undefined;
      const result = verifyAuditExport(fileLines(file), {
        ...(trusted === undefined ? {} : { trustedKeys: trusted }),
        ...(flags.checkpoint === undefined ? {} : { checkpoints: keptCheckpoints(flags.checkpoint) }),
      });
      if (flags.output === undefined || flags.output === 'table' || flags.output === 'text')
        process.stdout.write(formatVerdict(file, result, trusted));
      else print(outputFormat(flags.output), result, () => []);
      if (!result.ok) process.exitCode = 1;
    });

  audit
    .command('checkpoint')
    .description('have the hub sign its audit chain head now (it also does on an interval and at every export)')
    .option('-o, --output <format>', 'table, json or yaml')
    .action(async (flags: { output?: string }) => {
      const signed = await client().call(SignedAuditCheckpoint, 'POST', '/v1/audit/checkpoints');
      print(outputFormat(flags.output), signed, () => [
        ['SEQ', 'HASH', 'KEY', 'TIME'],
        [String(signed.checkpoint.seq), signed.checkpoint.hash, signed.signature.keyId, signed.checkpoint.time],
      ]);
    });

  audit
    .command('prune')
    .description('remove the oldest entries behind a signed anchor; what remains still verifies')
    .option('--older-than <duration>', 'remove entries older than this, such as 90d (at least 1d)')
    .option('--before <time>', 'remove entries before this RFC 3339 time (at least a day ago)')
    .action(async (flags: { olderThan?: string; before?: string }) => {
      if ((flags.olderThan === undefined) === (flags.before === undefined))
        throw new FlotillaError(
          'CONFIG_INVALID',
          'give exactly one of --older-than (such as 90d) and --before (a time)',
        );
      const olderThanMs = flags.olderThan === undefined ? undefined : parseDuration(flags.olderThan, '--older-than');
      if (olderThanMs !== undefined && olderThanMs < 86_400_000)
        throw new FlotillaError(
          'CONFIG_INVALID',
          `--older-than must be at least 1d: a prune always keeps the last day; received '${flags.olderThan!}'`,
        );
      const request =
        olderThanMs === undefined
          ? { before: cliTime(flags.before!, '--before') }
          : { olderThanSeconds: olderThanMs / 1000 };
      const result = await client().call(AuditPruneResult, 'POST', '/v1/audit/prune', request);
      if (result.anchor === null)
        process.stdout.write(`nothing older than ${result.olderThan}; the log is unchanged\n`);
      else
        process.stdout.write(
          `pruned ${result.removed} entries older than ${result.olderThan}; the log now starts after seq ${result.anchor.checkpoint.seq}, anchored by a checkpoint signed by key ${result.anchor.signature.keyId}\n`,
        );
    });
}

/**
 * `flotilla targets history TARGET`: the audit entries naming one target, newest first. Register
 * it on the `targets` command group: `targetHistoryCommand(targets, client)`.
 */
export function targetHistoryCommand(targets: Command, client: () => ApiClient): void {
  narrowingOptions(
    targets
      .command('history <target>')
      .description('what happened to a target (by id or name), from the audit trail, newest first'),
    '50',
  ).action(async (idOrName: string, flags: NarrowingFlags) => {
    const format = outputFormat(flags.output);
    const params = narrowingParams(flags, Date.now());
    const api = client();
    const id = await api.targetId(idOrName);
    printPage(
      format,
      await readPages(
        api,
        `/v1/targets/${encodeURIComponent(id)}/history`,
        params,
        positive(flags.limit, '--limit'),
        flags.cursor,
      ),
      'history',
    );
  });
}
