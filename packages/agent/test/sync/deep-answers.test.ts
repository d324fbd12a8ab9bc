import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, keyIdOf, signPayload, type TrustRoot } from '@flotilla/protocol';
import { FileAgentStore } from '../../src/agent-state.ts';
import { HubClient } from '../../src/hub-client.ts';
import { readJsonFile } from '../../src/state-files.ts';
import { DesiredStateVerifier } from '../../src/sync/desired-state.ts';
import { SyncState } from '../../src/agent-state.ts';

const TARGET = `tgt_${'0'.repeat(20)}`;
const DIGEST = `sha256:${'a'.repeat(64)}`;

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

let dir: string;
let hub: Server;
/** What the hub answers to GET /v1/bundles/DIGEST. */
let bundleText = '';

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-deep-'));
  hub = createServer((req, res) => {
    if (req.url === `/v1/bundles/${DIGEST}`) res.end(bundleText);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  const root = generateKeyPair();
  const trustRoot: TrustRoot = {
    apiVersion: API_VERSION,
    kind: 'TrustRoot',
    hubId: 'hub_test',
    version: 1,
    keys: [{ id: keyIdOf(root.publicKey), publicKey: root.publicKey, roles: ['root', 'hub', 'release'] }],
    thresholds: { root: 1, release: 1 },
    issuedAt: new Date().toISOString(),
  };
  await new FileAgentStore(dir).saveTrustRoot({ trustRoot, signatures: [signPayload('trust-root', trustRoot, root)] });
});

afterEach(async () => {
  hub.closeAllConnections();
  await new Promise((resolve) => hub.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('deeply nested JSON the agent reads is refused by name, never a stack overflow', () => {
  it('a bundle from the hub whose resource nests 20,000 levels deep', async () => {
    bundleText =
      `{"bundle":{"apiVersion":"${API_VERSION}","kind":"Bundle","name":"deep","version":"1.0.0","resources":[` +
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep","namespace":"default"},"data":${nested(20_000)}}` +
      `]},"digest":"${DIGEST}","signatures":[{"keyId":"0000000000000000","sig":"${'A'.repeat(86)}"}]}`;
    const store = new FileAgentStore(dir);
    const client = new HubClient(`http://127.0.0.1:${(hub.address() as AddressInfo).port}`);
    const verifier = new DesiredStateVerifier(client, store, TARGET);
    try {
      await expect(
        verifier.resourcesOf([{ name: 'deep', version: '1.0.0', digest: DIGEST }], async () => 'token'),
      ).rejects.toMatchObject({ code: 'JSON_TOO_DEEP' });
    } finally {
      await client.close();
    }
  });

  it('a state file that nests 20,000 levels deep', () => {
    const path = join(dir, 'sync.json');
    writeFileSync(
      path,
      `{"appliedGeneration":1,"appliedEnvelope":null,"appliedReleases":[],"nextSeq":1,"x":${nested(20_000)}}`,
    );
    expect(() => readJsonFile(path, SyncState)).toThrow(/deeper than 256 levels/);
  });
});
