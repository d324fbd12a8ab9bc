import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKeyPair, KeyPair, sha256, signPayload } from '@flotilla/protocol';
import { ApiClient } from '../packages/hub/src/cli/api-client.ts';
import { targetHistoryCommand } from '../packages/hub/src/cli/commands/audit.ts';
import { api, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';

const BIN = fileURLToPath(new URL('../packages/hub/bin/flotilla.js', import.meta.url));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `flotilla` as a child process; asynchronous, because the hub it talks to runs in this process. */
function flotilla(args: readonly string[], options: { hub?: HubFixture } = {}): Promise<Run> {
  const global = options.hub === undefined ? [] : ['--hub', options.hub.url, '--token', options.hub.adminToken];
  return new Promise((resolve) => {
    // No FLOTILLA_* from the environment of whoever runs the tests: the flags say everything.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLOTILLA_')));
    execFile(process.execPath, [BIN, ...global, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

let hub: HubFixture;
let dir: { path: string; remove: () => void };
let hubPublicKey: string;
let targetId: string;

beforeAll(async () => {
  hub = await startHub();
  dir = tempDir('flotilla-audit-cli-');
  hubPublicKey = KeyPair.parse(JSON.parse(readFileSync(join(hub.dataDir, 'keys', 'hub.json'), 'utf8'))).publicKey;
  const token = await hub.enrollmentToken(2, { tier: 'gold' });
  const key = generateKeyPair();
  const issuedAt = new Date().toISOString();
  const enrolled = await api<{ targetId: string }>(hub.url, 'POST', '/v1/enroll', {
    body: {
      token,
      name: 'edge-1',
      publicKey: key.publicKey,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
    },
  });
  targetId = enrolled.body.targetId;
  await api(hub.url, 'POST', `/v1/targets/${targetId}/disable`, {
    token: hub.adminToken,
    body: { reason: 'maintenance' },
  });
  await api(hub.url, 'POST', `/v1/targets/${targetId}/enable`, { token: hub.adminToken, body: {} });
  await api(hub.url, 'GET', '/v1/targets', { token: 'fl_admin_wrong' });
});

afterAll(async () => {
  await hub.dispose();
  dir.remove();
});

describe('flotilla audit export and verify', () => {
  it('exports to a file that verifies offline against the hub key: exit 0', async () => {
    const file = join(dir.path, 'audit.jsonl');
    const exported = await flotilla(['audit', 'export', '--since', '1h', '--out', file], { hub });
    expect(exported.stderr).toMatch(/exported \d+ bytes/);
    expect(exported.code).toBe(0);
    expect(existsSync(`${file}.partial`)).toBe(false);

    const verified = await flotilla(['audit', 'verify', file, '--key', hubPublicKey]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(
      /^OK .*audit\.jsonl: \d+ entries in full, 0 elided, .*signed through seq \d+ by a trusted key/,
    );
  });

  it('verifies against a trust root file, or a key file', async () => {
    const file = join(dir.path, 'audit-tr.jsonl');
    expect((await flotilla(['audit', 'export', '--out', file], { hub })).code).toBe(0);
    const trustRoot = join(dir.path, 'trust-root.json');
    writeFileSync(trustRoot, JSON.stringify((await api(hub.url, 'GET', '/v1/trust-root')).body));
    expect((await flotilla(['audit', 'verify', file, '--trust-root', trustRoot])).code).toBe(0);
    expect((await flotilla(['audit', 'verify', file, '--key', join(hub.dataDir, 'keys', 'hub.json')])).code).toBe(0);
  });

  it('without a key, verifies integrity and says that origin was not checked', async () => {
    const file = join(dir.path, 'audit-nokey.jsonl');
    expect((await flotilla(['audit', 'export', '--out', file], { hub })).code).toBe(0);
    const verified = await flotilla(['audit', 'verify', file]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/whose it is was not checked; pass --key or --trust-root/);
  });

  it('a tampered file fails: exit 1, and the line and seq where it breaks', async () => {
    const file = join(dir.path, 'audit-tampered.jsonl');
    expect((await flotilla(['audit', 'export', '--out', file], { hub })).code).toBe(0);
    const lines = readFileSync(file, 'utf8').split('\n');
    const index = lines.findIndex((l) => l.includes('"reason":"maintenance"'));
    expect(index).toBeGreaterThan(0);
    const seq = (JSON.parse(lines[index]!) as { seq: number }).seq;
    lines[index] = lines[index]!.replace('"reason":"maintenance"', '"reason":"routine"');
    writeFileSync(file, lines.join('\n'));

    const verified = await flotilla(['audit', 'verify', file, '--key', hubPublicKey]);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(
      new RegExp(`^FAILED .*: 1 problem; first at line ${index + 1}, seq ${seq}: hash-mismatch\n`),
    );
    expect(verified.stdout).toContain(`  line ${index + 1}, seq ${seq}: hash-mismatch: `);
  });

  it('a file cut short fails as unsealed, and one checked against another key fails as untrusted', async () => {
    const file = join(dir.path, 'audit-cut.jsonl');
    expect((await flotilla(['audit', 'export', '--out', file], { hub })).code).toBe(0);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const cut = join(dir.path, 'audit-cut-short.jsonl');
    writeFileSync(cut, `${lines.slice(0, -2).join('\n')}\n`);
    const truncated = await flotilla(['audit', 'verify', cut, '--key', hubPublicKey]);
    expect(truncated.code).toBe(1);
    expect(truncated.stdout).toMatch(/unsealed/);

    const other = await flotilla(['audit', 'verify', file, '--key', generateKeyPair().publicKey]);
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/checkpoint-key-unknown/);
  });

  it('verify -o json prints the whole result', async () => {
    const file = join(dir.path, 'audit-json.jsonl');
    expect((await flotilla(['audit', 'export', '--targets', targetId, '--out', file], { hub })).code).toBe(0);
    const verified = await flotilla(['audit', 'verify', file, '--key', hubPublicKey, '-o', 'json']);
    expect(verified.code).toBe(0);
    const result = JSON.parse(verified.stdout) as { ok: boolean; elided: number; trusted: boolean };
    expect(result).toMatchObject({ ok: true, trusted: true });
    expect(result.elided).toBeGreaterThan(0);
  });

  it('a missing file is one line on stderr and exit 1', async () => {
    const verified = await flotilla(['audit', 'verify', join(dir.path, 'nope.jsonl')]);
    expect(verified.code).toBe(1);
    expect(verified.stderr).toMatch(/^flotilla: cannot read .*nope\.jsonl: ENOENT\n$/);
  });
});

describe('flotilla audit ls, checkpoint, prune', () => {
  it('lists entries as a table, or as JSON with the filters applied', async () => {
    const table = await flotilla(['audit', 'ls', '--target', targetId], { hub });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^SEQ\s+TIME\s+ACTOR\s+ACTION\s+OUTCOME\s+TARGETS\s+DETAILS/);
    // Rows are cut to the terminal width (120 columns when not a terminal).
    expect(table.stdout).toMatch(/user:admin\s+target\.disable\s+success\s+tgt_\w+\s+maintenan/);

    const json = await flotilla(['audit', 'ls', '--outcome', 'refused', '--since', '1h', '-o', 'json'], { hub });
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout) as {
      entries: { action: string; outcome: string; details: Record<string, unknown> }[];
    };
    expect(page.entries.length).toBeGreaterThan(0);
    expect(page.entries.every((e) => e.outcome === 'refused')).toBe(true);
    expect(page.entries.find((e) => e.action === 'auth.refused')?.details).toMatchObject({
      credential: 'api-token',
      remote: '127.0.0.1',
    });
  });

  it('filters by a fleet query', async () => {
    const gold = await flotilla(['audit', 'ls', '-q', 'tier=gold', '-o', 'json'], { hub });
    expect(gold.code).toBe(0);
    const page = JSON.parse(gold.stdout) as { entries: { subjects: string[] }[] };
    expect(page.entries.length).toBeGreaterThanOrEqual(3);
    expect(page.entries.every((e) => e.subjects.includes(targetId))).toBe(true);
    const typo = await flotilla(['audit', 'ls', '-q', 'tier in (gold'], { hub });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^flotilla: /);
  });

  it('pages past one request when --limit asks for more, and says when more remain', async () => {
    const limited = await flotilla(['audit', 'ls', '--limit', '2'], { hub });
    expect(limited.stdout.trim().split('\n')).toHaveLength(3);
    expect(limited.stderr).toMatch(/more entries: repeat with --cursor \S+/);
  });

  it('refuses a bad time before calling the hub', async () => {
    const bad = await flotilla(['audit', 'ls', '--since', 'last tuesday'], { hub });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--since must be a duration before now/);
  });

  it('signs a checkpoint', async () => {
    const signed = await flotilla(['audit', 'checkpoint', '-o', 'json'], { hub });
    expect(signed.code).toBe(0);
    expect(JSON.parse(signed.stdout)).toMatchObject({
      checkpoint: { kind: 'AuditCheckpoint' },
      signature: { keyId: expect.any(String) },
    });
  });

  it('prunes by age, and a young log is left as it is', async () => {
    const pruned = await flotilla(['audit', 'prune', '--older-than', '90d'], { hub });
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^nothing older than .*; the log is unchanged/);
    const tooYoung = await flotilla(['audit', 'prune', '--older-than', '1h'], { hub });
    expect(tooYoung.code).toBe(1);
    expect(tooYoung.stderr).toMatch(/--older-than must be at least 1d/);
    const tooLate = await flotilla(['audit', 'prune', '--before', new Date(Date.now() - 3_600_000).toISOString()], {
      hub,
    });
    expect(tooLate.code).toBe(1);
    expect(tooLate.stderr).toMatch(/^flotilla: a prune keeps at least the last day of the audit log/);
  });
});

describe('flotilla targets history', () => {
  it("prints the target's audit entries, newest first", async () => {
    const program = new Command('flotilla').exitOverride();
    targetHistoryCommand(program.command('targets'), () => new ApiClient(hub.url, hub.adminToken));
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await program.parseAsync(['targets', 'history', targetId, '-o', 'json'], { from: 'user' });
    } finally {
      write.mockRestore();
    }
    const page = JSON.parse(out.join('')) as { entries: { action: string }[] };
    expect(page.entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(['target.enable', 'target.disable', 'target.enroll']),
    );
    expect(page.entries[page.entries.length - 1]!.action).toBe('target.enroll');
  });
});
