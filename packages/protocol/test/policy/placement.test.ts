import { describe, expect, it } from 'vitest';
import type { Target } from '../../src/documents/target.ts';
import { choosePlacement } from '../../src/policy/choose-placement.ts';
import { createPolicyEvaluator } from '../../src/policy/evaluate-policies.ts';
import { inspectRelease } from '../../src/policy/inspect-release.ts';
import { parsePlacementRequest } from '../../src/policy/placement-request.ts';
import { parsePolicy } from '../../src/policy/parse-policy.ts';
import { makeTarget, PINNED, releaseTrust, signedRelease } from './policy-fixtures.ts';

describe('reading --place', () => {
  it('reads class, capabilities and the spread', () => {
    expect(parsePlacementRequest('class=payments, capability=pci-dss, per-region=2')).toEqual({
      requirements: { workloadClass: 'payments', capabilities: ['pci-dss'] },
      perRegion: 2,
    });
  });

  it('reads repeated keys, regions as globs, a minimum version and a count', () => {
    expect(
      parsePlacementRequest(
        'capability=gpu,capability=nvidia.com/gpu, region=eu-*, region=us-east-1, certification=iso27001, min-kubernetes=v1.29, count=10',
      ),
    ).toEqual({
      requirements: {
        capabilities: ['gpu', 'nvidia.com/gpu'],
        regions: ['eu-*', 'us-east-1'],
        certifications: ['iso27001'],
        minKubernetesVersion: '1.29',
      },
      count: 10,
    });
  });

  it.each([
    ['clas=payments', /unknown key 'clas'; did you mean 'class'\?/],
    ['class=payments,', /an entry is empty/],
    ['class', /'class' is not key=value/],
    ['class=', /class has no value/],
    ['class=payments, class=web', /class is given twice/],
    ['per-region=two', /per-region is a whole number/],
    ['per-region=0', /per-region is a whole number/],
    ['count=-3', /count is a whole number/],
    ['class=Payments', /not a workload class/],
    ['min-kubernetes=latest', /not a version/],
    ['capability=pci dss', /not a name/],
    ['capability=gpu, capability=gpu', /capability=gpu is given twice/],
  ])('refuses %s', (text, message) => {
    expect(() => parsePlacementRequest(text)).toThrow(
      expect.objectContaining({ code: 'PLACEMENT_INVALID', message: expect.stringMatching(message) }),
    );
  });
});

describe('choosing targets for a placement', () => {
  const node = (
    name: string,
    region: string | undefined,
    capabilities: Record<string, unknown>,
    health?: 'healthy' | 'degraded',
    extra: Record<string, string> = {},
  ): Target =>
    makeTarget({
      name,
      properties: { ...(region === undefined ? {} : { region }), ...extra },
      facts: { capabilities },
      ...(health === undefined ? {} : { health }),
    });
  const fleet: Target[] = [
    node('eu-3', 'eu-west-1', { 'pci-dss': true }, 'healthy'),
    node('eu-1', 'eu-west-1', { 'pci-dss': true }, 'degraded'),
    node('eu-2', 'eu-west-1', { 'pci-dss': true }, 'healthy'),
    node('us-1', 'us-east-1', { 'pci-dss': true }, 'healthy'),
    node('us-2', 'us-east-1', {}, 'healthy'),
    node('gpu-1', 'us-east-1', { 'nvidia.com/gpu': 4 }, 'healthy'),
    node('nowhere', undefined, { 'pci-dss': true }, 'healthy'),
    makeTarget({
      name: 'off',
      status: 'disabled',
      properties: { region: 'eu-west-1' },
      facts: { capabilities: { 'pci-dss': true } },
    }),
  ];

  it('spreads per region, healthy first then by name, and explains each target', () => {
    const choice = choosePlacement(parsePlacementRequest('class=payments, capability=pci-dss, per-region=2'), fleet);
    const names = (ids: readonly string[]) => ids.map((id) => fleet.find((target) => target.id === id)!.name);
    expect(names(choice.chosen)).toEqual(['eu-2', 'eu-3', 'us-1']);
    const why = Object.fromEntries(choice.explanations.map((line) => [line.name, line.reason]));
    expect(why).toEqual({
      'eu-3': 'chosen: 2nd in eu-west-1',
      'eu-1': 'not chosen: eligible, but eu-west-1 already has 2 (per-region=2)',
      'eu-2': 'chosen: 1st in eu-west-1',
      'us-1': 'chosen: 1st in us-east-1',
      'us-2': "not chosen: the release needs pci-dss, which the target's facts and properties do not provide",
      'gpu-1': "not chosen: the release needs pci-dss, which the target's facts and properties do not provide",
      nowhere: 'not chosen: the target has no region, and per-region spreads by region',
      off: 'not chosen: the target is disabled',
    });
  });

  it('is deterministic whatever the order of the fleet', () => {
    const request = parsePlacementRequest('capability=pci-dss, per-region=1');
    expect(choosePlacement(request, [...fleet].reverse()).chosen).toEqual(choosePlacement(request, fleet).chosen);
  });

  it('reads a GPU capability from allocatable GPU resources, not from the substrate', () => {
    const choice = choosePlacement(parsePlacementRequest('capability=gpu'), fleet);
    expect(choice.chosen).toEqual([fleet[5]!.id]);
  });

  it('takes a count round-robin across regions', () => {
    const choice = choosePlacement(parsePlacementRequest('capability=pci-dss, count=3'), fleet);
    expect(choice.chosen.map((id) => fleet.find((target) => target.id === id)!.name)).toEqual([
      'eu-2',
      'us-1',
      'nowhere',
    ]);
  });

  it('leaves out targets whose placement policy refuses the class, naming the policy', () => {
    const policies = [
      parsePolicy({
        apiVersion: 'flotilla.io/v1',
        kind: 'Policy',
        metadata: { name: 'us-no-payments' },
        spec: { scope: 'region=us-*', placement: { deniedClasses: ['payments'] } },
      }),
    ];
    const facts = inspectRelease(signedRelease([PINNED, PINNED], 1, { workloadClass: 'payments' }), [], {
      releaseKeys: releaseTrust,
      attestationKeys: [],
    });
    const evaluator = createPolicyEvaluator(policies, {
      release: facts,
      author: 'carol',
      approvals: { accepted: [], refused: [] },
      now: Date.parse('2026-05-06T10:00:00Z'),
    });
    const choice = choosePlacement(parsePlacementRequest('class=payments, capability=pci-dss'), fleet, {
      decide: (target) => evaluator.evaluate(target),
    });
    const us1 = choice.explanations.find((line) => line.name === 'us-1');
    expect(us1).toEqual({
      targetId: fleet[3]!.id,
      name: 'us-1',
      region: 'us-east-1',
      chosen: false,
      reason: 'not chosen: workload class payments is denied here (policy us-no-payments)',
    });
  });
});
