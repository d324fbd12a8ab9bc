import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import { createPolicyEvaluator, inspectRelease, parsePolicy, type Policy } from '@flotilla/protocol/policy';
import { parseQuery, targetFieldRows } from '@flotilla/protocol/query';
import { makeTarget, PINNED, releaseTrust, signedRelease } from '../../../../protocol/test/policy/policy-fixtures.ts';
import { planFromIndex } from '../../../src/features/policy/index-plan.ts';
import { FleetIndex } from '../../../src/features/targets/fleet-index.ts';
import { indexColumns } from '../targets/index-columns.ts';

const NOW = Date.parse('2026-05-06T10:00:00Z');

const SCOPES = [
  '',
  'tenant=acme',
  'tenant in (acme, zeus), tier=production',
  'compliance=pci',
  'compliance!=pci',
  'region=eu-*',
  'not region=eu-*',
  'facts.kubernetesVersion<1.29',
  'facts.capabilities.nvidia.com/gpu>0',
  'name=edge-*',
  'labels.team in (a, b)',
  'status=disabled',
  'tier=production or facts.nodeCount>5',
];

const RULES: Record<string, unknown>[] = [
  { placement: { allowedClasses: ['payments', 'web'] } },
  { placement: { deniedClasses: ['payments'] } },
  { placement: { requireClass: true } },
  { artifacts: { requireDigests: true, minSignatures: 2 } },
  { artifacts: { allowedRegistries: ['quay.io/other'] } },
  { approvals: { required: 1 } },
  { windows: { allow: ['Mon-Fri 09:00-16:00'] } },
  { windows: { timezone: 'Asia/Tokyo', allow: ['daily 00:00-08:00'] } },
  { windows: { freezes: ['2026-05-01 to 2026-05-10'] } },
];

const policyArb = fc
  .uniqueArray(fc.record({ scope: fc.constantFrom(...SCOPES), rule: fc.constantFrom(...RULES) }), {
    minLength: 0,
    maxLength: 8,
    selector: (entry) => `${entry.scope}|${JSON.stringify(entry.rule)}`,
  })
  .map((entries) =>
    entries.map(({ scope, rule }, i): Policy =>
      parsePolicy({
        apiVersion: 'flotilla.io/v1',
        kind: 'Policy',
        metadata: { name: `p-${i}`, version: 1 },
        spec: { scope, ...rule },
      }),
    ),
  );

const targetArb = fc.record({
  tenant: fc.constantFrom('acme', 'zeus', undefined),
  tier: fc.constantFrom('production', 'staging', undefined),
  compliance: fc.constantFrom('pci', 'none', undefined),
  region: fc.constantFrom('eu-west-1', 'eu-central-1', 'us-east-1', undefined),
  labelRegion: fc.constantFrom('eu-north-1', undefined),
  zone: fc.constantFrom('Europe/Berlin', 'America/New_York', 'Not/AZone', undefined),
  status: fc.constantFrom('active', 'active', 'disabled', 'revoked' as const),
  name: fc.constantFrom('a', 'b', 'edge-1', 'edge-2'),
  team: fc.constantFrom('a', 'b', 'c', undefined),
  kubernetes: fc.constantFrom('v1.28.3', 'v1.29.1', 'v1.30.0-eks-2', 'junk', undefined),
  capability: fc.constantFrom(true, false, 1, 0, 'yes', '', undefined),
  gpus: fc.constantFrom(0, 2, undefined),
  certified: fc.constantFrom(true, 'false', undefined),
  nodes: fc.constantFrom(3, 7, '7', undefined),
});

type TargetSpec = typeof targetArb extends fc.Arbitrary<infer T> ? T : never;

function build(spec: TargetSpec, i: number): Target {
  const properties: Record<string, string | boolean> = {};
  const put = (key: string, value: string | boolean | undefined): void => {
    if (value !== undefined) properties[key] = value;
  };
  put('tenant', spec.tenant);
  put('tier', spec.tier);
  put('compliance', spec.compliance);
  put('region', spec.region);
  put('timezone', spec.zone);
  put('certification.iso27001', spec.certified);
  const capabilities: Record<string, string | number | boolean> = {};
  if (spec.capability !== undefined) capabilities['pci-dss'] = spec.capability;
  if (spec.gpus !== undefined) capabilities['nvidia.com/gpu'] = spec.gpus;
  const target = makeTarget({
    name: `${spec.name}-${i % 3}`,
    status: spec.status,
    labels: {
      ...(spec.team === undefined ? {} : { team: spec.team }),
      ...(spec.labelRegion === undefined ? {} : { region: spec.labelRegion }),
    },
    properties,
    facts: {
      capabilities,
      ...(spec.kubernetes === undefined ? {} : { kubernetesVersion: spec.kubernetes }),
      ...(spec.nodes === undefined ? {} : { nodeCount: spec.nodes }),
    },
  });
  return target;
}

const requirementsArb = fc.record(
  {
    workloadClass: fc.constantFrom('payments', 'web'),
    capabilities: fc.subarray(['pci-dss', 'gpu']),
    regions: fc.constantFrom(['eu-*'], ['us-east-1', 'eu-north-1']).map((list) => [...list]),
    minKubernetesVersion: fc.constantFrom('1.29', '1.30'),
    certifications: fc.constant(['iso27001']).map((list) => [...list]),
  },
  { requiredKeys: [] },
);

/** An index as a live hub holds it: built, then churned (targets replaced, removed, added back). */
function indexOf(fleet: readonly Target[]): FleetIndex {
  const index = new FleetIndex();
  fleet.forEach((target, i) => index.set(indexColumns(target), targetFieldRows(fleet[fleet.length - 1 - i]!)));
  fleet.forEach((target, i) => {
    if (i % 3 === 0) index.remove(target.id);
  });
  for (const target of [...fleet].reverse()) index.set(indexColumns(target), targetFieldRows(target));
  return index;
}

describe('planning from the fleet index', () => {
  it('gives every selected target the decision the record-based evaluator gives it alone', () => {
    fc.assert(
      fc.property(
        fc.array(targetArb, { minLength: 0, maxLength: 40 }),
        policyArb,
        requirementsArb,
        fc.constantFrom(undefined, 'tenant=acme', 'name=edge-*', 'facts.nodeCount>5'),
        (specs, policies, requirements, selector) => {
          const fleet = specs.map(build);
          const records = new Map(fleet.map((target) => [target.id, target]));
          const release = inspectRelease(signedRelease([PINNED], 1, requirements), [], {
            releaseKeys: releaseTrust,
            attestationKeys: [],
          });
          const context = { release, author: 'carol', approvals: { accepted: [], refused: [] }, now: NOW };
          const query = selector === undefined ? undefined : parseQuery(selector);
          const planned = planFromIndex({
            index: indexOf(fleet),
            policies,
            requirements: release.requirements,
            evaluator: createPolicyEvaluator(policies, context),
            selector: query,
            now: NOW,
            records: (ids) => ids.map((id) => records.get(id)!),
          });
          const index = indexOf(fleet);
          const got = Array.from(planned.slots, (slot, i) => ({
            id: index.idAt(slot),
            decision: planned.decisions[planned.classes[i]!],
          }));
          const selected = fleet
            .filter((target) => query === undefined || index.select(query, NOW).includes(target.id))
            .sort((a, b) => (a.id < b.id ? -1 : 1));
          expect(got).toEqual(
            selected.map((target) => ({
              id: target.id,
              decision: createPolicyEvaluator(policies, context).evaluate(target),
            })),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('decides once per class of alike targets, not once per target', () => {
    const fleet = Array.from({ length: 300 }, (_, i) =>
      build(
        {
          tenant: 'acme',
          tier: 'production',
          compliance: 'pci',
          region: 'eu-west-1',
          labelRegion: undefined,
          zone: 'Europe/Berlin',
          status: 'active',
          name: 'a',
          team: 'a',
          kubernetes: 'v1.30.0-eks-2',
          capability: true,
          gpus: undefined,
          certified: true,
          nodes: i % 2 === 0 ? 3 : 7,
        },
        i,
      ),
    );
    const policies = [
      parsePolicy({
        apiVersion: 'flotilla.io/v1',
        kind: 'Policy',
        metadata: { name: 'big', version: 1 },
        spec: { scope: 'facts.nodeCount>5', approvals: { required: 1 } },
      }),
    ];
    const release = inspectRelease(signedRelease([PINNED], 1, { capabilities: ['pci-dss'] }), [], {
      releaseKeys: releaseTrust,
      attestationKeys: [],
    });
    const records = new Map(fleet.map((target) => [target.id, target]));
    const read: string[] = [];
    const planned = planFromIndex({
      index: indexOf(fleet),
      policies,
      requirements: release.requirements,
      evaluator: createPolicyEvaluator(policies, {
        release,
        author: 'carol',
        approvals: { accepted: [], refused: [] },
        now: NOW,
      }),
      selector: undefined,
      now: NOW,
      records: (ids) => {
        read.push(...ids);
        return ids.map((id) => records.get(id)!);
      },
    });
    expect(planned.decisions.map((decision) => decision.included)).toEqual([true, false]);
    expect(read).toHaveLength(2);
    expect(planned.slots).toHaveLength(300);
  });
});
