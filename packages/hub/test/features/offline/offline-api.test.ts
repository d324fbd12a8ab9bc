import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  driftPolicyDigest,
  envelopeContent,
  generateKeyPair,
  signBundle,
  signPayload,
  type Envelope,
  type Report,
  type SignedReport,
} from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import {
  REPORT_CHAIN_GENESIS,
  ReportsFileWriter,
  verifyReceipt,
  verifyTransferManifest,
  type ChainPoint,
} from '@flotilla/protocol/offline';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let agent: ProtocolAgent;
let other: ProtocolAgent;
const releaseKey = generateKeyPair();
const admin = (method: string, path: string, body?: unknown) =>
  call(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

function signedReport(target: ProtocolAgent, seq: number, generation = 1): SignedReport {
  const report: Report = {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId: target.targetId,
    seq,
    generation,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [],
    facts: {},
    observedAt: '2026-01-01T00:00:00Z',
  };
  return { report, signature: signPayload('report', report, target.key) };
}

function reportsFile(
  target: ProtocolAgent,
  reports: readonly SignedReport[],
  base: ChainPoint = REPORT_CHAIN_GENESIS,
  key = target.key,
): string {
  const writer = new ReportsFileWriter({
    key,
    targetId: target.targetId,
    base,
    createdAt: new Date(hub.now()).toISOString(),
  });
  return [writer.header(), ...reports.map((r) => writer.link(r)), writer.seal().line].join('');
}

const importReports = (body: string) =>
  call(hub.url, 'POST', '/v1/offline/reports', { token: hub.adminToken, body, contentType: 'application/x-ndjson' });

async function auditOf(action: string) {
  return (await admin('GET', `/v1/audit?action=${action}&limit=1000`)).body.entries as Array<{
    outcome: string;
    reason?: string;
    subjects: string[];
    actor: { id: string };
    details: Record<string, unknown>;
  }>;
}

beforeAll(async () => {
  hub = await startTestHub();
  expect(
    (await admin('POST', '/v1/trust-root/release-keys', { publicKey: releaseKey.publicKey, name: 'authors' })).status,
  ).toBe(200);
  const bundle = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'shop',
      version: '1.0.0',
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: {} }],
    },
    [releaseKey],
  );
  expect((await admin('POST', '/v1/bundles', bundle)).status).toBe(201);
  agent = new ProtocolAgent(hub);
  other = new ProtocolAgent(hub);
  for (const [a, name] of [
    [agent, 'edge-1'],
    [other, 'edge-2'],
  ] as const) {
    const token = (await admin('POST', '/v1/enrollment-tokens', { labels: { site: 'edge' } })).body.token as string;
    await a.enroll(token, name, hub.now());
  }
  expect((await admin('POST', `/v1/targets/${agent.targetId}/assign`, { bundles: ['shop@1.0.0'] })).status).toBe(200);
});

afterAll(async () => {
  await hub.close();
});

describe('POST /v1/offline/exports', () => {
  it('signs a manifest for the target with its envelope, its releases and the trust-root chain, and audits it', async () => {
    const answer = await admin('POST', '/v1/offline/exports', { targets: [agent.targetId] });
    expect(answer.status).toBe(200);
    const roots = (await admin('GET', '/v1/trust-root')).body;
    const hubKeys = roots.trustRoot.keys.filter((k: { roles: string[] }) => k.roles.includes('hub'));
    const manifest = verifyTransferManifest(answer.body.signed, hubKeys);
    expect(manifest.targets).toEqual([{ targetId: agent.targetId, generation: 1 }]);
    expect(manifest.entries.map((e) => e.kind)).toEqual(['trust-root', 'trust-root', 'envelope', 'release']);
    const { envelope } = answer.body.envelopes[0];
    expect(Date.parse(envelope.expiresAt) - Date.parse(envelope.issuedAt)).toBe(7 * 86_400_000);
    const [entry] = await auditOf('offline.export');
    expect(entry).toMatchObject({ outcome: 'success', subjects: [agent.targetId], actor: { id: 'admin' } });
    expect(entry!.details['targets']).toEqual([{ targetId: agent.targetId, generation: 1 }]);
  });

  it('carries the drift policy inline, for a site that cannot fetch what the online envelope names by digest', async () => {
    const online = (
      await call(hub.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, {
        token: await agent.accessToken(hub.now()),
      })
    ).body.envelope as Envelope;
    const { envelope } = (await admin('POST', '/v1/offline/exports', { targets: [agent.targetId] })).body.envelopes[0];
    expect(online.driftPolicyDigest).toBe(driftPolicyDigest(defaultDriftPolicy));
    expect(envelope.driftPolicyDigest).toBeUndefined();
    expect(envelope.driftPolicy).toEqual(defaultDriftPolicy);
    // The same generation, so the same content: an agent that applied one takes the other as its re-signing.
    expect(envelopeContent(envelope)).toBe(envelopeContent(online));
  });

  it('carries only the trust-root versions after the one the site holds', async () => {
    const answer = await admin('POST', '/v1/offline/exports', { targets: [agent.targetId], trustRootSince: 1 });
    expect(answer.body.trustRoots.map((r: { trustRoot: { version: number } }) => r.trustRoot.version)).toEqual([2]);
  });

  it('signs the envelope with the offline expiry the operator set for the target', async () => {
    expect((await admin('PUT', `/v1/offline/targets/${agent.targetId}`, { expirySeconds: 30 * 86_400 })).status).toBe(
      200,
    );
    const { envelope } = (await admin('POST', '/v1/offline/exports', { targets: [agent.targetId] })).body.envelopes[0];
    expect(Date.parse(envelope.expiresAt) - Date.parse(envelope.issuedAt)).toBe(30 * 86_400_000);
  });

  it('refuses an unbounded offline expiry', async () => {
    const answer = await admin('PUT', `/v1/offline/targets/${agent.targetId}`, { expirySeconds: 91 * 86_400 });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('refuses, and audits, an export for a target with no desired state', async () => {
    const answer = await admin('POST', '/v1/offline/exports', { targets: [other.targetId] });
    expect(answer.status).toBe(409);
    expect((await auditOf('offline.export'))[0]).toMatchObject({
      outcome: 'refused',
      reason: 'CONFLICT',
      subjects: [other.targetId],
    });
  });

  it('selects the targets with a fleet query', async () => {
    const answer = await admin('POST', '/v1/offline/exports', { query: 'name=edge-1' });
    expect(answer.status).toBe(200);
    expect(answer.body.signed.manifest.targets).toEqual([{ targetId: agent.targetId, generation: 1 }]);
  });
});

describe('POST /v1/offline/reports', () => {
  it('ingests a reports file once, answers a receipt signed by the hub, and a second import changes nothing', async () => {
    const file = reportsFile(agent, [signedReport(agent, 1), signedReport(agent, 2)]);
    const first = await importReports(file);
    expect(first.status).toBe(200);
    const root = (await admin('GET', '/v1/trust-root')).body.trustRoot;
    const receipt = verifyReceipt(first.body, { trustRoot: root, targetId: agent.targetId });
    expect(receipt.accepted).toEqual([{ from: 1, to: 2 }]);
    const again = await importReports(file);
    expect(again.body.receipt.accepted).toEqual([]);
    expect(again.body.receipt.duplicates).toEqual([{ from: 1, to: 2 }]);
    const imports = (await auditOf('offline.import-reports')).filter((e) => e.outcome === 'success');
    expect(imports).toHaveLength(2);
    expect(imports[0]!.details['acknowledgedGeneration']).toBe(1);
    expect((await auditOf('offline.receipt')).length).toBe(2);
  });

  it('shares one record with online reports: a report sent online and then in a file is held once', async () => {
    const online = signedReport(agent, 3);
    const token = await agent.accessToken(hub.now());
    const sent = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/reports`, {
      token,
      body: JSON.stringify(online),
    });
    expect(sent.status).toBe(201);
    const answer = await importReports(
      reportsFile(agent, [signedReport(agent, 1), signedReport(agent, 2), online, signedReport(agent, 4)]),
    );
    expect(answer.body.receipt).toMatchObject({ accepted: [{ from: 4, to: 4 }], duplicates: [{ from: 1, to: 3 }] });
    const resent = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/reports`, {
      token,
      body: JSON.stringify(signedReport(agent, 4)),
    });
    expect(resent.status).toBe(200);
  });

  it('names a fork, and does not ingest over what the hub holds', async () => {
    const forked = signedReport(agent, 2, 7);
    const answer = await importReports(reportsFile(agent, [signedReport(agent, 1), forked]));
    expect(answer.body.receipt.forks).toEqual([2]);
    expect(answer.body.receipt.accepted).toEqual([]);
  });

  it('shows the target as offline-synced, with its last file and last contact', async () => {
    const { items } = (await admin('GET', '/v1/offline/targets')).body;
    const state = items.find((t: { targetId: string }) => t.targetId === agent.targetId);
    expect(state).toMatchObject({
      sync: 'offline-synced',
      expirySeconds: 30 * 86_400,
      reportSeq: 4,
      exportedGeneration: 1,
    });
    expect(state.lastFileAt).not.toBeNull();
  });

  it.each([
    [
      'a report signed by another key',
      () => reportsFile(agent, [signedReport(agent, 9)], REPORT_CHAIN_GENESIS, generateKeyPair()),
      'REPORTS_KEY_UNKNOWN',
    ],
    [
      'an edited report',
      () => reportsFile(agent, [signedReport(agent, 9)]).replace('"health":"healthy"', '"health":"degraded"'),
      'REPORTS_CHAIN_BROKEN',
    ],
    [
      'a replayed report',
      () => {
        const lines = reportsFile(agent, [signedReport(agent, 9), signedReport(agent, 10)]).split('\n');
        return [lines[0], lines[1], lines[1], lines[2], lines[3], ''].join('\n');
      },
      'REPORTS_ORDER',
    ],
    [
      'reordered reports',
      () => {
        const lines = reportsFile(agent, [signedReport(agent, 9), signedReport(agent, 10)]).split('\n');
        return [lines[0], lines[2], lines[1], lines[3], ''].join('\n');
      },
      'REPORTS_CHAIN_BROKEN',
    ],
    [
      "another target's report forged into the file",
      () => {
        const forged = signedReport(agent, 9);
        return reportsFile(agent, [{ ...forged, signature: signedReport(other, 9).signature }]);
      },
      'REPORTS_KEY_UNKNOWN',
    ],
    [
      "another target's signature forged under this target's key id",
      () => {
        const forged = signedReport(agent, 9);
        const { sig } = signedReport(other, 9).signature;
        return reportsFile(agent, [{ ...forged, signature: { ...forged.signature, sig } }]);
      },
      'REPORTS_SIGNATURE_INVALID',
    ],
    ['a file that is not a reports file', () => '{"hello":"world"}\n', 'REPORTS_FILE_INVALID'],
  ])('refuses %s, stores nothing and audits the refusal', async (_name, make, code) => {
    const before = (await admin('GET', '/v1/offline/targets')).body;
    const answer = await importReports(make());
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect((await admin('GET', '/v1/offline/targets')).body).toEqual(before);
    expect((await auditOf('offline.import-reports'))[0]).toMatchObject({ outcome: 'refused', reason: code });
  });

  it('carries by default only the trust-root versions after the one the site holds, as its last reports file says', async () => {
    const site = new ProtocolAgent(hub);
    const token = (await admin('POST', '/v1/enrollment-tokens', {})).body.token as string;
    await site.enroll(token, 'edge-ack', hub.now());
    expect((await admin('POST', `/v1/targets/${site.targetId}/assign`, { bundles: ['shop@1.0.0'] })).status).toBe(200);
    const versions = async () =>
      (await admin('POST', '/v1/offline/exports', { targets: [site.targetId] })).body.trustRoots.map(
        (r: { trustRoot: { version: number } }) => r.trustRoot.version,
      );
    expect(await versions()).toEqual([1, 2]);
    const writer = new ReportsFileWriter({
      key: site.key,
      targetId: site.targetId,
      base: REPORT_CHAIN_GENESIS,
      createdAt: new Date(hub.now()).toISOString(),
      trustRootVersion: 2,
    });
    const file = [writer.header(), writer.link(signedReport(site, 1)), writer.seal().line].join('');
    expect((await importReports(file)).status).toBe(200);
    expect(await versions()).toEqual([]);
    const { items } = (await admin('GET', '/v1/offline/targets')).body;
    expect(items.find((t: { targetId: string }) => t.targetId === site.targetId)).toMatchObject({
      trustRootVersion: 2,
    });
  });

  it.each([
    ['revoke', 'TARGET_REVOKED'],
    ['disable', 'TARGET_DISABLED'],
  ])(
    'refuses a reports file from a target operators %sd, as online, stores nothing and audits the refusal',
    async (verb, code) => {
      const site = new ProtocolAgent(hub);
      const token = (await admin('POST', '/v1/enrollment-tokens', {})).body.token as string;
      await site.enroll(token, `edge-${verb}`, hub.now());
      expect((await admin('POST', `/v1/targets/${site.targetId}/${verb}`, { reason: 'key stolen' })).status).toBe(200);
      const answer = await importReports(reportsFile(site, [signedReport(site, 1)]));
      expect(answer.status).toBe(403);
      expect(answer.body.error.code).toBe(code);
      expect((await admin('GET', `/v1/targets/${site.targetId}`)).body.observed).toBeNull();
      expect((await auditOf('offline.import-reports'))[0]).toMatchObject({
        outcome: 'refused',
        reason: code,
        subjects: [site.targetId],
      });
    },
  );

  it('refuses a body that is not sent as a reports file', async () => {
    const answer = await admin('POST', '/v1/offline/reports', { not: 'a file' });
    expect(answer.status).toBe(415);
  });
});
