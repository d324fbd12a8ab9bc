import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, ManifestsDirDriver } from '@flotilla/agent';
import type { FlotillaError } from '@flotilla/protocol';
import { configMap, silent } from './fixtures/hub-fixture.ts';
import { startMaliciousHub, type MaliciousHub } from './fixtures/malicious-hub.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

/*
 * A real agent against a hub that lies (fixtures/malicious-hub.ts): every document it receives
 * was forged by the test with node:crypto, signed with keys of the trust root the agent was
 * enrolled under, as a hub whose keys were stolen would sign them.
 */

let hub: MaliciousHub;
let dir: ReturnType<typeof tempDir>;
const running: Agent[] = [];

beforeEach(async () => {
  hub = await startMaliciousHub();
  dir = tempDir('flotilla-agent-attack-');
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((agent) => agent.stop()));
  await hub.close();
  dir.remove();
});

const DAY = 86_400_000;

const stateDir = (): string => join(dir.path, 'state');
const rootDir = (): string => join(dir.path, 'root');

async function startVictim(clock?: () => number): Promise<Agent> {
  const agent = new Agent({
    hubUrl: hub.url,
    stateDir: stateDir(),
    driver: new ManifestsDirDriver(rootDir()),
    log: silent,
    enrollToken: 'fl_enroll_anything',
    waitSeconds: 5,
    observeIntervalMs: 60_000,
    backoff: { baseMs: 20, maxMs: 100 },
    ...(clock === undefined ? {} : { clock }),
  });
  running.push(agent);
  await agent.start();
  return agent;
}

/** The agent's next refusal; fails when it accepts instead (applies a generation) or says nothing for 15 s. */
function nextStall(agent: Agent): Promise<FlotillaError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the agent refused nothing within 15 s')), 15_000);
    const onApplied = (generation: number): void => {
      clearTimeout(timer);
      agent.off('stalled', onStalled);
      reject(new Error(`the agent applied generation ${generation} instead of refusing it`));
    };
    const onStalled = (error: FlotillaError): void => {
      clearTimeout(timer);
      agent.off('applied', onApplied);
      resolve(error);
    };
    agent.once('stalled', onStalled);
    agent.once('applied', onApplied);
  });
}

function applied(): Record<string, any> {
  return JSON.parse(readFileSync(join(stateDir(), 'sync.json'), 'utf8')) as Record<string, any>;
}

function appliedData(): string | undefined {
  const path = join(rootDir(), 'default_configmap_app.yaml');
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

describe('an agent fed by a malicious hub', () => {
  it('refuses a second, different envelope of a generation it applied, and keeps the first', async () => {
    const agent = await startVictim();
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    const b = hub.release('app', '2.0.0', [configMap('app', { v: 'b' })]);
    hub.serveEnvelope(hub.envelope({ generation: 5, bundles: [a] }));
    await waitFor('generation 5 applied', () => agent.current.appliedGeneration === 5);

    const forked = nextStall(agent);
    hub.serveEnvelope(hub.envelope({ generation: 5, bundles: [b] }));
    expect((await forked).code).toBe('ENVELOPE_EQUIVOCATION');
    expect(appliedData()).toContain('v: a');
    expect(applied()['appliedEnvelope'].envelope.bundles[0].version).toBe('1.0.0');
    const stalled = await waitFor('a stalled report', () => hub.reports.find((r) => r.report['phase'] === 'stalled'));
    expect(stalled.report['error'].code).toBe('ENVELOPE_EQUIVOCATION');
  });

  it('refuses a generation it applied signed again with a hold added', async () => {
    const agent = await startVictim();
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    hub.serveEnvelope(hub.envelope({ generation: 5, bundles: [a] }));
    await waitFor('generation 5 applied', () => agent.current.appliedGeneration === 5);

    const forked = nextStall(agent);
    const since = new Date().toISOString();
    hub.serveEnvelope(hub.envelope({ generation: 5, bundles: [a], holds: [{ id: 'INC-1', reason: 'x', since }] }));
    expect((await forked).code).toBe('ENVELOPE_EQUIVOCATION');
  });

  it('keeps a legitimate re-signing of the generation it applied: same content, later expiry', async () => {
    const agent = await startVictim();
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    const issued = new Date(Date.now() - 60_000);
    hub.serveEnvelope(hub.envelope({ generation: 5, bundles: [a], issuedAt: issued }));
    await waitFor('generation 5 applied', () => agent.current.appliedGeneration === 5);
    let stalled = false;
    agent.once('stalled', () => (stalled = true));

    const later = new Date(issued.getTime() + DAY);
    hub.serveEnvelope(hub.envelope({ generation: 5, bundles: [a], expiresAt: later }));
    await waitFor(
      'the new signature kept',
      () => applied()['appliedEnvelope'].envelope.expiresAt === later.toISOString(),
    );
    expect(stalled).toBe(false);
    expect(agent.current.phase).toBe('applied');
  });

  it('judges expiry against the newest issuedAt it verified, across a restart with the clock set back', async () => {
    const now = Date.now();
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    const b = hub.release('app', '2.0.0', [configMap('app', { v: 'b' })]);
    const first = await startVictim(() => now);
    hub.serveEnvelope(hub.envelope({ generation: 1, bundles: [a], issuedAt: new Date(now) }));
    await waitFor('generation 1 applied', () => first.current.appliedGeneration === 1);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // Expired two days ago, served to an agent whose clock runs three days behind.
    hub.serveEnvelope(
      hub.envelope({
        generation: 2,
        bundles: [b],
        issuedAt: new Date(now - 4 * DAY),
        expiresAt: new Date(now - 2 * DAY),
      }),
    );
    const reportsBefore = hub.reports.length;
    const behind = new Agent({
      hubUrl: hub.url,
      stateDir: stateDir(),
      driver: new ManifestsDirDriver(rootDir()),
      log: silent,
      waitSeconds: 5,
      observeIntervalMs: 60_000,
      backoff: { baseMs: 20, maxMs: 100 },
      clock: () => now - 3 * DAY,
    });
    running.push(behind);
    const refused = nextStall(behind);
    await behind.start();
    expect((await refused).code).toBe('ENVELOPE_EXPIRED');
    expect(appliedData()).toContain('v: a');
    const report = await waitFor('a report saying the clock ran back', () =>
      hub.reports.slice(reportsBefore).find((r) => typeof r.report['facts'].clockBehindSeconds === 'number'),
    );
    expect(report.report['facts'].clockBehindSeconds).toBeGreaterThanOrEqual(3 * 86_400 - 60);
  });

  it('stops reading a bundle at the cap of what the hub accepts, and says so', async () => {
    const agent = await startVictim();
    // Valid JSON padded to 48 MiB; the envelope even names that length.
    const big = hub.release('app', '1.0.0', [configMap('app', { v: 'big' })], 48 * 1024 * 1024);
    const refused = nextStall(agent);
    hub.serveEnvelope(hub.envelope({ generation: 1, bundles: [big] }));
    expect(await refused).toMatchObject({ code: 'BODY_TOO_LARGE', message: expect.stringContaining('16 MiB') });
    expect(appliedData()).toBeUndefined();
  });

  it('aborts a bundle download at the length its envelope names', async () => {
    const agent = await startVictim();
    const honest = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    // The same document, served with a megabyte of white space after it: still the same digest.
    hub.serveBundle(honest.digest, `${await bundleText(honest.digest)}${' '.repeat(1024 * 1024)}`);
    const refused = nextStall(agent);
    hub.serveEnvelope(hub.envelope({ generation: 1, bundles: [honest] }));
    expect(await refused).toMatchObject({
      code: 'BUNDLE_LENGTH_MISMATCH',
      message: expect.stringContaining(`${honest.size} bytes`),
    });
    expect(appliedData()).toBeUndefined();
  });

  it('applies a bundle whose length is the one its envelope names', async () => {
    const agent = await startVictim();
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    hub.serveEnvelope(hub.envelope({ generation: 1, bundles: [a] }));
    await waitFor('generation 1 applied', () => agent.current.appliedGeneration === 1);
    expect(appliedData()).toContain('v: a');
  });

  it('stops reading an envelope at its cap and keeps retrying, saying so', async () => {
    const agent = await startVictim();
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    hub.serveEnvelope(`${JSON.stringify(hub.envelope({ generation: 1, bundles: [a] }))}${' '.repeat(9 * 1024 * 1024)}`);
    await waitFor('the cap named in the agent status', () => agent.current.lastError?.includes('8 MiB'));
    expect(agent.current.appliedGeneration).toBe(0);
  });

  it('stops reading an access token answer at its cap and keeps retrying, saying so', async () => {
    hub.padTokens(2 * 1024 * 1024);
    const agent = await startVictim();
    await waitFor('the cap named in the agent status', () => agent.current.lastError?.includes('1 MiB'));
    expect(agent.current.appliedGeneration).toBe(0);
  });

  it('refuses a trust root answered for version 2 that is version 3, signed by the root it trusts', async () => {
    const agent = await startVictim();
    const skipped = hub.trustRoot({
      version: 3,
      keys: [
        { key: hub.root, roles: ['root'] },
        { key: hub.hubKey, roles: ['hub'] },
        { key: hub.releaseKey, roles: ['release'] },
      ],
      signers: [hub.root],
    });
    hub.serveTrustRoot(2, skipped);
    hub.serveTrustRoot(3, skipped);
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    const refused = nextStall(agent);
    hub.serveEnvelope(hub.envelope({ generation: 1, bundles: [a], trustRootVersion: 3 }));
    expect(await refused).toMatchObject({
      code: 'TRUST_ROOT_INVALID',
      message: expect.stringContaining('v3 where v2'),
    });
    const pinned = JSON.parse(readFileSync(join(stateDir(), 'trust-root.json'), 'utf8')) as Record<string, any>;
    expect(pinned.trustRoot.version).toBe(1);
  });

  it('stops reading a trust root at its cap', async () => {
    const agent = await startVictim();
    const signed = hub.trustRoot({
      version: 2,
      keys: [
        { key: hub.root, roles: ['root'] },
        { key: hub.hubKey, roles: ['hub'] },
        { key: hub.releaseKey, roles: ['release'] },
      ],
      signers: [hub.root],
    });
    hub.serveTrustRoot(2, `${JSON.stringify(signed)}${' '.repeat(2 * 1024 * 1024)}`);
    const a = hub.release('app', '1.0.0', [configMap('app', { v: 'a' })]);
    const refused = nextStall(agent);
    hub.serveEnvelope(hub.envelope({ generation: 1, bundles: [a], trustRootVersion: 2 }));
    expect(await refused).toMatchObject({ code: 'BODY_TOO_LARGE', message: expect.stringContaining('1 MiB') });
  });
});

async function bundleText(digest: string): Promise<string> {
  const answer = await fetch(`${hub.url}/v1/bundles/${digest}`);
  return answer.text();
}
