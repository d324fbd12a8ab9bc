import type { MemberView } from '../types.ts';
import { Time } from './time.tsx';

// The rollout gate's holds (docs/policy.md, "Rollouts under policy").
const WINDOW = /^blocked: window, opens (\d{4}-\d\d-\d\dT[\d:.]+Z): ([\s\S]*)$/;
const KINDS = [
  ['awaiting-approval: ', 'awaiting approval'],
  ['blocked: window', 'window closed'],
  ['excluded by policy: ', 'excluded by policy'],
] as const;

/** A member's reason, with a closed window's next opening as a time in the viewer's zone. */
export function HoldReason({ reason }: { reason: string }) {
  const window = WINDOW.exec(reason);
  if (window === null) return <span>{reason}</span>;
  return (
    <span>
      window closed, opens <Time iso={window[1]} />: {window[2]}
    </span>
  );
}

/**
 * What holds a wave's members, by kind: awaiting approval, window closed (with the earliest
 * opening), excluded by policy.
 */
export function WaveHolds({ members }: { members: readonly MemberView[] }) {
  const parts = KINDS.flatMap(([prefix, label]) => {
    const held = members.filter((m) => m.reason?.startsWith(prefix) === true);
    if (held.length === 0) return [];
    const opens = held
      .map((m) => WINDOW.exec(m.reason!)?.[1])
      .filter((at): at is string => at !== undefined)
      .sort()[0];
    return [
      <span key={label}>
        {held.length} {label}
        {opens === undefined ? null : (
          <>
            , opens <Time iso={opens} />
          </>
        )}
      </span>,
    ];
  });
  if (parts.length === 0) return <span class="muted">—</span>;
  return <span data-testid="wave-holds">{parts.flatMap((part, i) => (i === 0 ? [part] : [' · ', part]))}</span>;
}
