import { describe, expect, it } from 'vitest';
import {
  attributeDrift,
  buildDriftReportSection,
  classifyDrift,
  defaultDriftPolicy,
  diffResources,
  extendDefaultDriftPolicy,
} from '../../src/drift/index.ts';
import { DriftReportSection } from '../../src/index.ts';
import type { Resource } from '../../src/index.ts';
import { desiredWeb, dropAgentField, liveWeb, withEntry } from './fixtures/web-deployment.ts';

const APP = 'k:{"name":"app"}';
const NOW = new Date('2025-03-01T14:00:00Z');

describe('diff, attribute and classify together', () => {
  it('sorts a morning of drift on one target into accept, alert and revert', () => {
    const live = liveWeb();
    // 12:30 the HPA scaled up.
    live.spec.replicas = 7;
    dropAgentField(live, 'f:spec', 'f:replicas');
    withEntry(live, {
      manager: 'kube-controller-manager',
      operation: 'Update',
      subresource: 'scale',
      time: '2025-03-01T12:30:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    });
    // 13:05 someone ran kubectl edit: a log level, and privileged mode.
    const app = live.spec.template.spec.containers[0];
    app.env[0].value = 'debug';
    app.securityContext.privileged = true;
    dropAgentField(
      live,
      'f:spec',
      'f:template',
      'f:spec',
      'f:containers',
      APP,
      'f:env',
      'k:{"name":"LOG_LEVEL"}',
      'f:value',
    );
    withEntry(live, {
      manager: 'kubectl-edit',
      operation: 'Update',
      time: '2025-03-01T13:05:10Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:spec': {
          'f:template': {
            'f:spec': {
              'f:containers': {
                [APP]: {
                  'f:env': { 'k:{"name":"LOG_LEVEL"}': { 'f:value': {} } },
                  'f:securityContext': { 'f:privileged': {} },
                },
              },
            },
          },
        },
      },
    });
    const policy: Resource = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-all', namespace: 'shop' },
      spec: { podSelector: {} },
    };
    const leftover = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config-v1', namespace: 'shop' },
      data: { a: '1' },
    };

    const items = diffResources([desiredWeb(), policy], [live, leftover], [leftover]);
    const decisions = classifyDrift(attributeDrift(items, [live, leftover]), defaultDriftPolicy, {
      now: NOW,
      lastAppliedAt: new Date('2025-03-01T10:00:00Z'),
    });

    expect(
      decisions.map((d) => [d.item.path || d.item.resourceKey, d.actor.manager, d.class, d.action, d.ruleId]),
    ).toEqual([
      ['spec.replicas', 'kube-controller-manager', 'acceptable', 'accept', 'autoscaler-replicas'],
      [
        'spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value',
        'kubectl-edit',
        'suspicious',
        'alert',
        'human-change',
      ],
      [
        'spec.template.spec.containers[name=app].securityContext.privileged',
        'kubectl-edit',
        'dangerous',
        'revert',
        'privilege-added',
      ],
      ['NetworkPolicy.networking.k8s.io/shop/deny-all', 'unknown', 'dangerous', 'revert', 'network-policy-deleted'],
      ['ConfigMap/shop/web-config-v1', 'unknown', 'suspicious', 'alert', 'extra-resource'],
    ]);

    // The decision docs/drift.md shows is this one.
    expect(decisions[2]).toEqual({
      item: {
        resourceKey: 'Deployment.apps/shop/web',
        kind: 'Deployment',
        path: 'spec.template.spec.containers[name=app].securityContext.privileged',
        change: 'added',
        observed: true,
      },
      actor: { manager: 'kubectl-edit', operation: 'Update', basis: 'field-owner' },
      since: '2025-03-01T13:05:10Z',
      class: 'dangerous',
      action: 'revert',
      ruleId: 'privilege-added',
      reason:
        'adds privilege (privileged, escalation, capabilities, root, host namespaces or hostPath); flagged by privilege-escalation; changed by kubectl-edit (Update)',
      detectors: ['privilege-escalation'],
    });

    const section = buildDriftReportSection(decisions);
    expect(DriftReportSection.parse(section).counts).toEqual({
      acceptable: 1,
      transient: 0,
      suspicious: 2,
      dangerous: 2,
    });
  });

  it('cannot be talked out of a revert by a trusted-sounding manager name', () => {
    const live = liveWeb();
    live.spec.template.spec.containers[0].image = 'evil.io/miner:latest';
    dropAgentField(live, 'f:spec', 'f:template', 'f:spec', 'f:containers', APP, 'f:image');
    withEntry(live, {
      manager: 'trusted-operator',
      operation: 'Apply',
      time: '2025-03-01T13:59:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { [APP]: { 'f:image': {} } } } } } },
    });
    const policy = extendDefaultDriftPolicy([
      { id: 'trust-operator', match: { actor: { managers: ['trusted-operator'] } }, class: 'acceptable' },
    ]);
    const [decision] = classifyDrift(attributeDrift(diffResources([desiredWeb()], [live]), [live]), policy, {
      now: NOW,
    });
    expect(decision).toMatchObject({
      actor: { manager: 'trusted-operator' },
      class: 'dangerous',
      action: 'revert',
      ruleId: 'image-not-allowed',
      guardedRules: ['trust-operator'],
    });
  });
});
