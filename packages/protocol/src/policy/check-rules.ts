import { countApprovals, type VerifiedApprovals } from './approval.ts';
import type { BlockReason } from './block-reason.ts';
import { compileSchedule, formatFreeze, formatWindow, type CompiledSchedule } from './change-window.ts';
import { isTimeZone } from './lib/zone-time.ts';
import type { ApprovalRules, PlacementRules, WindowRules } from './policy-document.ts';

/**
 * The checks of one policy's sections that the hub makes at plan time and the agent again at
 * apply time, from the same code so that both read a decision the same way.
 */

/** The placement rules of one policy against a release's workload class. */
export function checkPlacement(
  rules: PlacementRules,
  workloadClass: string | undefined,
  policy: string,
): BlockReason[] {
  const reasons: BlockReason[] = [];
  const shown = workloadClass ?? '(none)';
  if (rules.requireClass === true && workloadClass === undefined) {
    reasons.push({
      kind: 'placement',
      rule: 'placement.requireClass',
      policy,
      message: 'the release declares no workload class; targets here run only classified workloads',
    });
  }
  if (
    rules.allowedClasses !== undefined &&
    (workloadClass === undefined || !rules.allowedClasses.includes(workloadClass))
  ) {
    reasons.push({
      kind: 'placement',
      rule: 'placement.allowedClasses',
      policy,
      message: `workload class ${shown} may not run here; allowed: ${rules.allowedClasses.join(', ')}`,
    });
  }
  if (rules.deniedClasses !== undefined && workloadClass !== undefined && rules.deniedClasses.includes(workloadClass)) {
    reasons.push({
      kind: 'placement',
      rule: 'placement.deniedClasses',
      policy,
      message: `workload class ${workloadClass} is denied here`,
    });
  }
  return reasons;
}

/** The approval rule of one policy against the rollout's verified approvals. */
export function checkApprovals(rules: ApprovalRules, approvals: VerifiedApprovals, policy: string): BlockReason[] {
  const { count, counted } = countApprovals(approvals.accepted, rules.approvers);
  if (count >= rules.required) return [];
  const from =
    rules.approvers === undefined ? 'distinct approvers' : `distinct approvers among ${rules.approvers.join(', ')}`;
  const have = counted.length === 0 ? 'none' : `${count} (${counted.map((item) => item.approver).join(', ')})`;
  return [
    {
      kind: 'approval',
      rule: 'approvals.required',
      policy,
      message: `needs ${rules.required} signed approvals from ${from}, never the author; has ${have}`,
    },
  ];
}

/** Whether the window rules name a zone for every window and freeze without the target's. */
export function windowsNeedTargetZone(rules: WindowRules): boolean {
  if (rules.timezone !== undefined) return false;
  return (
    (rules.allow ?? []).some((window) => window.timezone === undefined) ||
    (rules.freezes ?? []).some((freeze) => freeze.timezone === undefined)
  );
}

/**
 * The window rules of one policy at `now`, in `zone` for windows that name none: a reason
 * when closed (with the next opening), none when open or when enough `override-window`
 * approvals let the change through (then `overridden` is true).
 */
export function checkWindows(
  rules: WindowRules,
  zone: string | undefined,
  now: number,
  overrides: VerifiedApprovals,
  policy: string,
  compiled?: CompiledSchedule,
): { reasons: BlockReason[]; overridden: boolean } {
  const resolved = rules.timezone ?? zone;
  if (resolved === undefined && windowsNeedTargetZone(rules)) {
    return {
      reasons: [
        {
          kind: 'window',
          rule: 'windows.timezone',
          policy,
          message:
            "the target has no timezone property, and the policy's windows name no zone; set the property or the section's timezone",
        },
      ],
      overridden: false,
    };
  }
  if (resolved !== undefined && rules.timezone === undefined && !isTimeZone(resolved)) {
    return {
      reasons: [
        {
          kind: 'window',
          rule: 'windows.timezone',
          policy,
          message: `the target's timezone '${resolved}' is not an IANA time zone; fix the property`,
        },
      ],
      overridden: false,
    };
  }
  const schedule = compiled ?? compileSchedule(rules, resolved);
  const closed = schedule.closedBecause(now);
  if (closed === undefined) return { reasons: [], overridden: false };
  const override = rules.emergencyOverride;
  if (override !== undefined && countApprovals(overrides.accepted).count >= override.approvals)
    return { reasons: [], overridden: true };
  const next = schedule.nextOpening(now);
  const opens = next === undefined ? 'it does not open within two years' : `it opens ${new Date(next).toISOString()}`;
  const reason: BlockReason =
    closed.kind === 'freeze'
      ? {
          kind: 'window',
          rule: 'windows.freezes',
          policy,
          message: `changes are frozen ${formatFreeze(closed.freeze)}${closed.freeze.reason === undefined ? '' : ` (${closed.freeze.reason})`}; ${opens}`,
        }
      : {
          kind: 'window',
          rule: 'windows.allow',
          policy,
          message: `outside the change windows ${closed.windows.map((window) => formatWindow(window, resolved)).join('; ')}; ${opens}`,
        };
  return {
    reasons: [next === undefined ? reason : { ...reason, nextOpening: new Date(next).toISOString() }],
    overridden: false,
  };
}
