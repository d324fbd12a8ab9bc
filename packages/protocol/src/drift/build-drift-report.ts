import { Timestamp } from '../documents/common.ts';
import type { DriftClass } from '../documents/drift-policy.ts';
import {
  DRIFT_REPORT_MAX_ITEMS,
  DRIFT_VALUE_PREVIEW_MAX,
  type DriftItemReport,
  type DriftReportSection,
} from '../documents/drift-report.ts';
import type { DriftDecision } from './classify-drift.ts';

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function preview(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let json: string;
  try {
    json = JSON.stringify(value) ?? 'null';
  } catch {
    json = '"<unserializable>"';
  }
  return cut(json, DRIFT_VALUE_PREVIEW_MAX);
}

/** Turns a decision into its bounded report form, cutting long strings and values. */
export function toDriftItemReport(decision: DriftDecision): DriftItemReport {
  const { item, actor } = decision;
  const desired = preview(item.desired);
  const observed = preview(item.observed);
  return {
    resourceKey: cut(item.resourceKey, 512),
    kind: cut(item.kind, 128),
    path: cut(item.path, 1024),
    change: item.change,
    ...(desired === undefined ? {} : { desired }),
    ...(observed === undefined ? {} : { observed }),
    actor: {
      manager: cut(actor.manager, 256),
      operation: actor.operation,
      ...(actor.subresource === undefined ? {} : { subresource: cut(actor.subresource, 64) }),
      basis: actor.basis,
    },
    // A since that is not a valid timestamp is a substrate quirk; the report leaves it out.
    ...(decision.since !== undefined && Timestamp.safeParse(decision.since).success ? { since: decision.since } : {}),
    class: decision.class,
    action: decision.action,
    ruleId: cut(decision.ruleId, 64),
    reason: cut(decision.reason, 1024),
    detectors: [...decision.detectors],
    ...(decision.intentional === true ? { intentional: true as const } : {}),
    ...(decision.holdId === undefined ? {} : { holdId: cut(decision.holdId, 128) }),
    ...(decision.holdSource === undefined ? {} : { holdSource: decision.holdSource }),
  };
}

const SEVERITY: Readonly<Record<DriftClass, number>> = { dangerous: 0, suspicious: 1, transient: 2, acceptable: 3 };

/**
 * Builds the drift section of a report: every class counted, the most severe items kept first
 * (dangerous, suspicious, transient, acceptable; stable within a class) up to `limit`.
 */
export function buildDriftReportSection(
  decisions: readonly DriftDecision[],
  limit: number = DRIFT_REPORT_MAX_ITEMS,
): DriftReportSection {
  if (!Number.isInteger(limit) || limit < 0 || limit > DRIFT_REPORT_MAX_ITEMS) {
    throw new TypeError(`limit must be an integer from 0 to ${DRIFT_REPORT_MAX_ITEMS}, received ${String(limit)}`);
  }
  const counts = { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 };
  for (const decision of decisions) counts[decision.class]++;
  const ordered = decisions
    .map((decision, index) => ({ decision, index }))
    .sort((a, b) => SEVERITY[a.decision.class] - SEVERITY[b.decision.class] || a.index - b.index);
  const kept = ordered.slice(0, limit).map(({ decision }) => toDriftItemReport(decision));
  return { items: kept, omitted: decisions.length - kept.length, counts };
}
