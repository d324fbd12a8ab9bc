import { describe, expect, it } from 'vitest';
import { classifyDrift, defaultDriftPolicy } from '../../src/drift/index.ts';
import { parseDriftPolicy } from '../../src/index.ts';
import type { Hold } from '../../src/index.ts';
import { APP_SC, attributed, NOW, QUIET } from './fixtures/attributed.ts';

const incident: Hold = { id: 'INC-2041', reason: 'payments outage: hotfixes by hand', since: '2025-03-01T11:30:00Z' };
const privileged = attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'kubectl-edit');
const humanEdit = attributed({ path: 'spec.template.spec.containers[name=app].env[name=A].value' }, 'kubectl-edit');
const autoscaled = attributed({ path: 'spec.replicas', desired: 3, observed: 9 }, 'kube-controller-manager');
const settling = attributed({ path: 'spec.minReadySeconds' });
const deleted = attributed({
  path: '',
  change: 'deleted-resource',
  kind: 'ConfigMap',
  resourceKey: 'ConfigMap/shop/c',
});

describe('holds', () => {
  it.each([
    ['a dangerous change', privileged, 'dangerous', 'privilege-added'],
    ['a deleted resource', deleted, 'dangerous', 'resource-deleted'],
    ['a human change', humanEdit, 'suspicious', 'human-change'],
  ])('turn %s into an intentional alert with the hold id, keeping class and rule', (_name, item, klass, ruleId) => {
    const [decision] = classifyDrift([item], defaultDriftPolicy, { ...QUIET, holds: [incident] });
    expect(decision).toMatchObject({
      class: klass,
      action: 'alert',
      ruleId,
      intentional: true,
      holdId: 'INC-2041',
      holdSource: 'envelope',
    });
    expect(decision?.reason).toContain('hold INC-2041 in force');
  });

  it.each([
    ['an accepted change', autoscaled, 'accept'],
    ['a change waited on', settling, 'wait'],
  ])('leave %s alone', (_name, item, action) => {
    const context = { now: NOW, lastAppliedAt: new Date(NOW.getTime() - 10_000), holds: [incident] };
    const [decision] = classifyDrift([item], defaultDriftPolicy, context);
    expect(decision?.action).toBe(action);
    expect(decision).not.toHaveProperty('intentional');
  });

  it('come from the flotilla.io/hold annotation of the live object too', () => {
    const item = { ...privileged, annotationHold: ' INC-7 ' };
    expect(classifyDrift([item], defaultDriftPolicy, QUIET)[0]).toMatchObject({
      class: 'dangerous',
      action: 'alert',
      intentional: true,
      holdId: 'INC-7',
      holdSource: 'annotation',
    });
  });

  it('name an annotation hold without a value "annotation"', () => {
    expect(classifyDrift([{ ...privileged, annotationHold: '' }], defaultDriftPolicy, QUIET)[0]?.holdId).toBe(
      'annotation',
    );
  });

  it('prefer the envelope hold, which the hub signed, over the annotation', () => {
    expect(
      classifyDrift([{ ...privileged, annotationHold: 'INC-7' }], defaultDriftPolicy, {
        ...QUIET,
        holds: [incident],
      })[0],
    ).toMatchObject({ holdId: 'INC-2041', holdSource: 'envelope' });
  });

  it('ignore the annotation when the policy does not honor it', () => {
    const policy = parseDriftPolicy({ rules: defaultDriftPolicy.rules, settings: { honorHoldAnnotation: false } });
    const [decision] = classifyDrift([{ ...privileged, annotationHold: 'INC-7' }], policy, QUIET);
    expect(decision).toMatchObject({ action: 'revert' });
    expect(decision).not.toHaveProperty('intentional');
  });

  it('count whether or not the hold started before the agent clock says now', () => {
    const future: Hold = { ...incident, since: '2099-01-01T00:00:00Z' };
    expect(classifyDrift([privileged], defaultDriftPolicy, { ...QUIET, holds: [future] })[0]?.intentional).toBe(true);
  });

  it('can be matched by rules: under a hold, a suspicious change can be tagged by its own rule', () => {
    const policy = parseDriftPolicy({
      rules: [
        {
          id: 'incident-work',
          match: { context: { held: true }, security: false },
          class: 'suspicious',
          reason: 'changed during an incident',
        },
        ...defaultDriftPolicy.rules,
      ],
    });
    expect(classifyDrift([humanEdit], policy, { ...QUIET, holds: [incident] })[0]).toMatchObject({
      ruleId: 'incident-work',
      action: 'alert',
      intentional: true,
    });
  });
});
