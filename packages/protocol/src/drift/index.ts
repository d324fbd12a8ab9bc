/**
 * `@flotilla/protocol/drift`: what the agent and the hub both decide about drift (docs/drift.md):
 * diff desired against live, attribute each change to the field manager that made it,
 * classify it with the policy and holds of the envelope, report it, and adopt it into a
 * release. The policy and report sections themselves are documents, in the core export.
 */
export { REDACTED, type DriftItem } from './drift-item.ts';
export { formatFieldPath, parseFieldPath, type PathSegment } from './field-path.ts';
export { liveResourceKey, type LiveObject } from './live-object.ts';
export { diffResource } from './diff-resource.ts';
export { diffResources } from './diff-resources.ts';
export {
  FLOTILLA_FIELD_MANAGER,
  FLOTILLA_FIELD_MANAGERS,
  attributeDrift,
  type AttributedDriftItem,
  type DriftActor,
} from './attribute-drift.ts';
export { AUTOSCALER_MANAGERS, defaultDriftPolicy, extendDefaultDriftPolicy } from './default-drift-policy.ts';
export { classifyDrift, type DriftContext, type DriftDecision } from './classify-drift.ts';
export { buildDriftReportSection, toDriftItemReport } from './build-drift-report.ts';
export { jsonPointerAt, removeValueAtPath, setValueAtPath, valueAtPath } from './path-value.ts';
export { adoptDrift, driftItemId, driftPreviewValue, type AdoptDriftItem } from './adopt-drift.ts';
export { parseQuantity } from './lib/quantity.ts';
