import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, sha256, signPayload } from '@flotilla/protocol';
import { api, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { flotilla } from './fixtures/cli.ts';

let hub: HubFixture;
let env: Record<string, string>;

beforeAll(async () => {
  hub = await startHub();
  env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
});

afterAll(async () => {
  await hub.dispose();
});

describe('flotilla enroll-token revoke', () => {
  it('revokes a token so that no agent enrolls with it, and lists it as revoked', async () => {
    const created = await flotilla(['enroll-token', 'create', '--max-uses', '3', '-o', 'json'], env);
    const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
    const revoked = await flotilla(['enroll-token', 'revoke', id], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/REVOKED/);
    const key = generateKeyPair();
    const issuedAt = new Date().toISOString();
    const enroll = await api(hub.url, 'POST', '/v1/enroll', {
      body: {
        token,
        publicKey: key.publicKey,
        issuedAt,
        proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
      },
    });
    expect(enroll.body.error.code).toBe('ENROLL_TOKEN_REVOKED');
    const listed = JSON.parse((await flotilla(['enroll-token', 'ls', '-o', 'json'], env)).stdout) as {
      id: string;
      revokedAt?: string;
    }[];
    expect(listed.find((t) => t.id === id)?.revokedAt).toEqual(expect.any(String));
  });

  it('names an unknown token in one line and exits 1', async () => {
    const answer = await flotilla(['enroll-token', 'revoke', 'enr_0000000000000000'], env);
    expect(answer.code).toBe(1);
    expect(answer.stderr.trim()).toMatch(/^flotilla: .*no enrollment token enr_0000000000000000/);
  });
});
