import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, resourceKey, type Envelope, type Resource } from '@flotilla/protocol';
import { defaultDriftPolicy, extendDefaultDriftPolicy } from '@flotilla/protocol/drift';
import { DriftEngine } from '../../src/drift/drift-engine.ts';
import { MemoryDriver } from '../fixtures/memory-driver.ts';

const T0 = Date.parse('2025-03-01T12:00:00Z');
const IMAGE = 'ghcr.io/acme/web:1.4.2';
const IMAGE_PATH = 'spec.template.spec.containers[name=app].image';

const settings: Resource = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'shop' },
  data: { mode: 'fast', level: 'info' },
};
const web: Resource = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    replicas: 2,
    template: { spec: { containers: [{ name: 'app', image: IMAGE, env: [{ name: 'LOG_LEVEL', value: 'info' }] }] } },
  },
};
const KEYS = { settings: resourceKey(settings), web: resourceKey(web) };

function envelope(extra: Partial<Envelope> = {}): Envelope {
  return {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId: `tgt_${'0'.repeat(20)}`,
    generation: 3,
    bundles: [],
    holds: [],
    trustRootVersion: 1,
    issuedAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 86_400_000).toISOString(),
    ...extra,
  };
}

let now = T0;
let dir: string;
let driver: MemoryDriver;
let engine: DriftEngine;
const desired = [settings, web];

beforeEach(async () => {
  now = T0;
  dir = mkdtempSync(join(tmpdir(), 'flotilla-drift-engine-'));
  driver = new MemoryDriver();
  await driver.apply(desired);
  engine = new DriftEngine({ driver, log: pino({ level: 'silent' }), clock: () => now, dir });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const summary = (result: Awaited<ReturnType<DriftEngine['pass']>>) =>
  result.section!.items.map((i) => [i.resourceKey, i.path, i.class, i.action]);

describe('the drift step', () => {
  it('reports nothing when live equals desired', async () => {
    const result = await engine.pass(desired, envelope(), defaultDriftPolicy);
    expect(result.section).toEqual({
      items: [],
      omitted: 0,
      counts: { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 },
    });
    expect(driver.repairs).toEqual([]);
  });

  it("measures the grace period from each resource's own last write", async () => {
    engine.markApplied([settings]);
    now = T0 + 10_000;
    driver.edit(KEYS.settings, (o) => (o.data.mode = 'slow'));
    driver.edit(KEYS.web, (o) => (o.spec.replicas = 3));
    // The report puts the most severe first.
    expect(summary(await engine.pass(desired, envelope(), defaultDriftPolicy))).toEqual([
      [KEYS.web, 'spec.replicas', 'suspicious', 'alert'],
      [KEYS.settings, 'data.mode', 'transient', 'wait'],
    ]);
    now = T0 + 121_000;
    expect(summary(await engine.pass(desired, envelope(), defaultDriftPolicy))[0]).toEqual([
      KEYS.settings,
      'data.mode',
      'suspicious',
      'alert',
    ]);
    expect(driver.repairs).toEqual([]);
  });

  it('reverts a dangerous change and keeps the kept change on the same resource', async () => {
    driver.edit(KEYS.web, (o) => {
      o.spec.template.spec.containers[0].image = 'evil.io/miner:latest';
      o.spec.template.spec.containers[0].env[0].value = 'debug';
    });
    const result = await engine.pass(desired, envelope(), defaultDriftPolicy);
    expect(summary(result)).toEqual([
      [KEYS.web, IMAGE_PATH, 'dangerous', 'revert'],
      [KEYS.web, 'spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value', 'suspicious', 'alert'],
    ]);
    expect(driver.repairs).toHaveLength(1);
    const container = (driver.live.get(KEYS.web) as any).spec.template.spec.containers[0];
    expect(container).toEqual({ name: 'app', image: IMAGE, env: [{ name: 'LOG_LEVEL', value: 'debug' }] });
    expect(result.observed.find((o) => o.key === KEYS.web)?.live).toMatchObject({
      spec: { template: { spec: { containers: [{ image: IMAGE }] } } },
    });
  });

  it('removes a security-relevant field someone added', async () => {
    driver.edit(KEYS.web, (o) => (o.spec.template.spec.containers[0].securityContext = { privileged: true }));
    const result = await engine.pass(desired, envelope(), defaultDriftPolicy);
    expect(summary(result)).toEqual([
      [KEYS.web, 'spec.template.spec.containers[name=app].securityContext.privileged', 'dangerous', 'revert'],
    ]);
    expect(driver.repairs[0]!.remove).toEqual({
      [KEYS.web]: ['spec.template.spec.containers[name=app].securityContext.privileged'],
    });
    expect(
      (driver.live.get(KEYS.web) as any).spec.template.spec.containers[0].securityContext?.privileged,
    ).toBeUndefined();
  });

  it('restores a deleted resource', async () => {
    driver.live.delete(KEYS.settings);
    expect(summary(await engine.pass(desired, envelope(), defaultDriftPolicy))).toEqual([
      [KEYS.settings, '', 'dangerous', 'revert'],
    ]);
    expect(driver.live.get(KEYS.settings)).toEqual(settings);
  });

  it.each([
    [
      'an envelope hold',
      envelope({ holds: [{ id: 'INC-42', reason: 'outage', since: new Date(T0).toISOString() }] }),
      undefined,
      { holdId: 'INC-42', holdSource: 'envelope' },
    ],
    ['the hold annotation on the object', envelope(), 'INC-7', { holdId: 'INC-7', holdSource: 'annotation' }],
  ])('reverts nothing under %s: reported as intentional', async (_name, signed, annotation, hold) => {
    driver.edit(KEYS.web, (o) => {
      o.spec.template.spec.containers[0].image = 'evil.io/miner:latest';
      if (annotation !== undefined) o.metadata.annotations = { 'flotilla.io/hold': annotation };
    });
    const result = await engine.pass(desired, signed, defaultDriftPolicy);
    expect(result.section!.items).toEqual([
      expect.objectContaining({ path: IMAGE_PATH, class: 'dangerous', action: 'alert', intentional: true, ...hold }),
    ]);
    expect(driver.repairs).toEqual([]);
  });

  it('reverts what an operator asked for once per generation, even under a hold, and remembers it across restarts', async () => {
    const signed = envelope({
      generation: 5,
      revert: [{ resourceKey: KEYS.settings, path: 'data.mode' }],
      holds: [{ id: 'INC-42', reason: 'outage', since: new Date(T0).toISOString() }],
    });
    driver.edit(KEYS.settings, (o) => {
      o.data.mode = 'slow';
      o.data.level = 'debug';
    });
    const first = await engine.pass(desired, signed, defaultDriftPolicy);
    expect(first.section!.items.map((i) => [i.path, i.action, i.holdId])).toEqual([
      ['data.mode', 'revert', 'INC-42'],
      ['data.level', 'alert', 'INC-42'],
    ]);
    expect(driver.live.get(KEYS.settings)).toMatchObject({ data: { mode: 'fast', level: 'debug' } });

    driver.edit(KEYS.settings, (o) => (o.data.mode = 'slow'));
    const restarted = new DriftEngine({ driver, log: pino({ level: 'silent' }), clock: () => now, dir });
    expect(
      (await restarted.pass(desired, signed, defaultDriftPolicy)).section!.items.map((i) => [i.path, i.action]),
    ).toEqual([
      ['data.mode', 'alert'],
      ['data.level', 'alert'],
    ]);
    expect(driver.live.get(KEYS.settings)).toMatchObject({ data: { mode: 'slow' } });
  });

  it('classifies with the policy it is given', async () => {
    driver.edit(KEYS.settings, (o) => (o.data.mode = 'slow'));
    const relaxed = extendDefaultDriftPolicy([
      { id: 'settings-are-free', match: { kinds: ['ConfigMap'] }, class: 'acceptable' },
    ]);
    expect(summary(await engine.pass(desired, envelope(), relaxed))).toEqual([
      [KEYS.settings, 'data.mode', 'acceptable', 'accept'],
    ]);
    expect(summary(await engine.pass(desired, envelope(), defaultDriftPolicy))).toEqual([
      [KEYS.settings, 'data.mode', 'suspicious', 'alert'],
    ]);
  });

  it('reports a leftover resource without trying to revert it', async () => {
    driver.extra = [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'old-admin' },
        subjects: [],
      },
    ];
    const result = await engine.pass(desired, envelope(), defaultDriftPolicy);
    expect(result.section!.items).toEqual([
      expect.objectContaining({
        resourceKey: 'ClusterRoleBinding.rbac.authorization.k8s.io//old-admin',
        change: 'extra-resource',
        class: 'dangerous',
        action: 'alert',
      }),
    ]);
    expect(driver.repairs).toEqual([]);
  });

  it('prepares a new release so that kept drift stays kept and reverted drift is forced back', async () => {
    driver.edit(KEYS.settings, (o) => (o.data.mode = 'slow'));
    driver.edit(KEYS.web, (o) => (o.spec.template.spec.containers[0].image = 'evil.io/miner:latest'));
    const next = [{ ...settings, data: { mode: 'fast', level: 'warn' } }, web];
    const prepared = await engine.prepareApply(next, {
      resources: desired,
      envelope: envelope(),
      policy: defaultDriftPolicy,
    });
    expect(prepared.force).toEqual(new Set([KEYS.web]));
    expect(prepared.resources[0]).toMatchObject({ data: { mode: 'slow', level: 'warn' } });
    expect(prepared.resources[1]).toEqual(web);
    expect(await engine.prepareApply(next, undefined)).toEqual({ resources: next, force: new Set() });
  });
});
