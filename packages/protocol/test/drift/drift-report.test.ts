import { describe, expect, it } from 'vitest';
import {
  buildDriftReportSection,
  classifyDrift,
  defaultDriftPolicy,
  toDriftItemReport,
  type DriftDecision,
} from '../../src/drift/index.ts';
import {
  DRIFT_REPORT_MAX_ITEMS,
  DRIFT_VALUE_PREVIEW_MAX,
  DriftItemReport,
  DriftReportSection,
} from '../../src/index.ts';
import { APP_SC, attributed, QUIET } from './fixtures/attributed.ts';

const decide = (...items: Parameters<typeof attributed>[]) =>
  classifyDrift(
    items.map((args) => attributed(...args)),
    defaultDriftPolicy,
    QUIET,
  );

describe('toDriftItemReport', () => {
  it('reports a decision with values as JSON previews', () => {
    const [decision] = decide([
      { path: 'spec.replicas', desired: 3, observed: 9 },
      'kube-controller-manager',
      { actor: { subresource: 'scale' } },
    ]);
    expect(toDriftItemReport(decision as DriftDecision)).toEqual({
      resourceKey: 'Deployment.apps/shop/web',
      kind: 'Deployment',
      path: 'spec.replicas',
      change: 'modified',
      desired: '3',
      observed: '9',
      actor: { manager: 'kube-controller-manager', operation: 'Update', subresource: 'scale', basis: 'field-owner' },
      since: '2025-03-01T11:00:00Z',
      class: 'acceptable',
      action: 'accept',
      ruleId: 'autoscaler-replicas',
      reason: 'replicas set by an autoscaler; changed by kube-controller-manager (Update via scale)',
      detectors: [],
    });
  });

  it('stays within bounds whatever the input', () => {
    const huge = 'x'.repeat(100_000);
    const [decision] = decide([
      {
        path: `spec.${'a'.repeat(2000)}`,
        resourceKey: `ConfigMap/n/${huge}`,
        kind: 'ConfigMap',
        desired: { blob: huge },
        observed: huge,
      },
      `m-${huge}`,
      { actor: { subresource: huge }, since: 'yesterday' },
    ]);
    const report = toDriftItemReport(decision as DriftDecision);
    expect(DriftItemReport.parse(report)).toEqual(report);
    expect(report.desired).toHaveLength(DRIFT_VALUE_PREVIEW_MAX);
    expect(report.desired?.endsWith('…')).toBe(true);
    expect(report).not.toHaveProperty('since');
  });

  it('carries the hold of an intentional change', () => {
    const [decision] = classifyDrift(
      [
        attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'kubectl-edit', {
          annotationHold: 'INC-9',
        }),
      ],
      defaultDriftPolicy,
      QUIET,
    );
    expect(DriftItemReport.parse(toDriftItemReport(decision as DriftDecision))).toMatchObject({
      action: 'alert',
      intentional: true,
      holdId: 'INC-9',
      holdSource: 'annotation',
      detectors: ['privilege-escalation'],
    });
  });

  it('is refused by the schema when unbounded or unknown fields creep in', () => {
    const [decision] = decide([{ path: 'spec.x' }]);
    const report = toDriftItemReport(decision as DriftDecision);
    expect(DriftItemReport.safeParse({ ...report, extra: 1 }).success).toBe(false);
    expect(DriftItemReport.safeParse({ ...report, observed: 'y'.repeat(DRIFT_VALUE_PREVIEW_MAX + 1) }).success).toBe(
      false,
    );
  });
});

describe('buildDriftReportSection', () => {
  const decisions = decide(
    [{ path: 'spec.minReadySeconds' }],
    [{ path: 'spec.replicas', desired: 1, observed: 2 }, 'keda-operator'],
    [{ path: `${APP_SC}.privileged`, change: 'added', observed: true }],
    [{ path: 'spec.paused' }, 'kubectl-edit'],
  );

  it('puts the most severe first and counts every class', () => {
    const section = buildDriftReportSection(decisions);
    expect(DriftReportSection.parse(section)).toEqual(section);
    expect(section.items.map((item) => [item.class, item.path])).toEqual([
      ['dangerous', `${APP_SC}.privileged`],
      ['suspicious', 'spec.minReadySeconds'],
      ['suspicious', 'spec.paused'],
      ['acceptable', 'spec.replicas'],
    ]);
    expect(section).toMatchObject({ omitted: 0, counts: { acceptable: 1, transient: 0, suspicious: 2, dangerous: 1 } });
  });

  it('keeps at most limit items and says how many it left out', () => {
    const section = buildDriftReportSection(decisions, 2);
    expect(section.items.map((item) => item.class)).toEqual(['dangerous', 'suspicious']);
    expect(section.omitted).toBe(2);
    expect(section.counts.acceptable).toBe(1);
  });

  it.each([[-1], [1.5], [DRIFT_REPORT_MAX_ITEMS + 1]])('refuses limit %d', (limit) => {
    expect(() => buildDriftReportSection(decisions, limit)).toThrow(TypeError);
  });
});
