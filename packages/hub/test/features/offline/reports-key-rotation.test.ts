/**
 * Reports files across an agent key rotation: the hub keeps each key a target rotated away
 * from, with the last report it held at the rotation, and takes reports that key signed
 * before the rotation, and none after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  keyIdOf,
  signPayload,
  type KeyPair,
  type Report,
  type SignedReport,
} from '@flotilla/protocol';
import { linkReport, REPORT_CHAIN_GENESIS, ReportsFileWriter, type ChainPoint } from '@flotilla/protocol/offline';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let agent: ProtocolAgent;
const rotated = generateKeyPair();
const admin = (method: string, path: string, body?: unknown) =>
  call(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

function signed(seq: number, key: KeyPair, observedAt = new Date(hub.now()).toISOString()): SignedReport {
  const report: Report = {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId: agent.targetId,
    seq,
    generation: 1,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [],
    facts: {},
    observedAt,
  };
  return { report, signature: signPayload('report', report, key) };
}

function reportsFile(reports: readonly SignedReport[], key: KeyPair, base: ChainPoint = REPORT_CHAIN_GENESIS): string {
  const writer = new ReportsFileWriter({
    key,
    targetId: agent.targetId,
    base,
    createdAt: new Date(hub.now()).toISOString(),
  });
  return [writer.header(), ...reports.map((r) => writer.link(r)), writer.seal().line].join('');
}

const importReports = (body: string) =>
  call(hub.url, 'POST', '/v1/offline/reports', { token: hub.adminToken, body, contentType: 'application/x-ndjson' });

async function lastImportAudit() {
  const { entries } = (await admin('GET', '/v1/audit?action=offline.import-reports&limit=1')).body;
  return entries[0] as { outcome: string; reason?: string; subjects: string[]; details: Record<string, unknown> };
}

// Reports 1-3, signed by the enrolled key: journaled while the site was cut off, and written
// into a reports file then; the agent sent them online when the hub came back, and rotated.
let beforeRotation: SignedReport[];
let beforeFile: string;
// Reports 4-6, signed by the new key after the rotation.
let afterRotation: SignedReport[];

beforeAll(async () => {
  hub = await startTestHub();
  agent = new ProtocolAgent(hub);
  const token = (await admin('POST', '/v1/enrollment-tokens', {})).body.token as string;
  await agent.enroll(token, 'edge-1', hub.now());
  beforeRotation = [1, 2, 3].map((seq) => signed(seq, agent.key));
  beforeFile = reportsFile(beforeRotation, agent.key);
  const access = await agent.accessToken(hub.now());
  for (const report of beforeRotation) {
    const sent = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/reports`, {
      token: access,
      body: JSON.stringify(report),
    });
    expect(sent.status).toBe(201);
  }
  hub.advance(60_000);
  const rotation = {
    targetId: agent.targetId,
    oldKeyId: keyIdOf(agent.key.publicKey),
    newPublicKey: rotated.publicKey,
    issuedAt: new Date(hub.now()).toISOString(),
  };
  const answer = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/key-rotation`, {
    body: JSON.stringify({
      rotation,
      oldSignature: signPayload('key-rotation', rotation, agent.key),
      newSignature: signPayload('key-rotation', rotation, rotated),
    }),
  });
  expect(answer.status).toBe(200);
  hub.advance(60 * 60_000);
  afterRotation = [4, 5, 6].map((seq) => signed(seq, rotated));
});

afterAll(async () => {
  await hub.close();
});

describe('a reports file signed before the agent rotated its key', () => {
  it('is accepted, each report held once: the ones the hub holds already are duplicates', async () => {
    const answer = await importReports(beforeFile);
    expect(answer.status).toBe(200);
    expect(answer.body.receipt).toMatchObject({ accepted: [], duplicates: [{ from: 1, to: 3 }], forks: [] });
  });

  it('chains on to the reports the new key signs: the next file is accepted whole, and again changes nothing', async () => {
    let base: ChainPoint = REPORT_CHAIN_GENESIS;
    for (const report of beforeRotation) base = { seq: report.report.seq, link: linkReport(base.link, report) };
    const after = reportsFile(afterRotation.slice(0, 2), rotated, base);
    expect((await importReports(after)).body.receipt).toMatchObject({ accepted: [{ from: 4, to: 5 }], duplicates: [] });
    expect((await importReports(after)).body.receipt).toMatchObject({ accepted: [], duplicates: [{ from: 4, to: 5 }] });
  });

  it('may hold reports by both keys in one file, from before and after the rotation', async () => {
    const spanning = reportsFile([...beforeRotation, ...afterRotation], rotated);
    const answer = await importReports(spanning);
    expect(answer.status).toBe(200);
    expect(answer.body.receipt).toMatchObject({ accepted: [{ from: 6, to: 6 }], duplicates: [{ from: 1, to: 5 }] });
  });
});

describe('a reports file is refused, stores nothing, and the refusal is audited', () => {
  it.each([
    [
      'a report the old key signed with a seq after the rotation',
      () => reportsFile([...beforeRotation, signed(7, agent.key)], rotated),
      'REPORTS_KEY_RETIRED',
    ],
    [
      'a file the old key sealed over reports after the rotation',
      () => reportsFile([...beforeRotation, signed(7, rotated)], agent.key),
      'REPORTS_KEY_RETIRED',
    ],
    [
      'a report the old key signed within its seqs but observed after the rotation',
      () => {
        const late = signed(2, agent.key, new Date(hub.now()).toISOString());
        return reportsFile([beforeRotation[0]!, late], rotated);
      },
      'REPORTS_KEY_RETIRED',
    ],
    [
      'a report by a key never bound to the target',
      () => reportsFile([...beforeRotation, signed(7, generateKeyPair())], rotated),
      'REPORTS_KEY_UNKNOWN',
    ],
  ])('%s', async (_name, make, code) => {
    const before = (await admin('GET', '/v1/offline/targets')).body;
    const answer = await importReports(make());
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect((await admin('GET', '/v1/offline/targets')).body).toEqual(before);
    expect(await lastImportAudit()).toMatchObject({ outcome: 'refused', reason: code, subjects: [agent.targetId] });
  });
});
