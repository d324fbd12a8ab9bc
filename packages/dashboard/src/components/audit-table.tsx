import { Badge } from './badge.tsx';
import { Time } from './time.tsx';
import type { AuditEntry } from '../types.ts';

function summary(details: Record<string, unknown>): string {
  const text = JSON.stringify(details);
  return text === '{}' ? '' : text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

/** Audit entries: time, actor, action, targets, outcome and details. */
export function AuditTable({ entries, caption }: { entries: readonly AuditEntry[]; caption: string }) {
  if (entries.length === 0) return <p class="muted">No entries.</p>;
  return (
    <div class="table-wrap">
      <table class="data">
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Seq</th>
            <th scope="col">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Targets</th>
            <th scope="col">Outcome</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.seq}>
              <td class="num">{entry.seq}</td>
              <td>
                <Time iso={entry.time} />
              </td>
              <td>
                <span class="muted">{entry.actor.kind}</span> {entry.actor.id}
              </td>
              <td class="mono">{entry.action}</td>
              <td>
                {entry.subjects.slice(0, 3).map((id) => (
                  <a key={id} class="mono subject" href={`/targets/${encodeURIComponent(id)}`}>
                    {id}
                  </a>
                ))}
                {entry.subjects.length > 3 ? <span class="muted"> +{entry.subjects.length - 3}</span> : null}
              </td>
              <td>
                <Badge value={entry.outcome} />
                {entry.reason === null ? null : <span class="muted"> {entry.reason}</span>}
              </td>
              <td class="mono clip" title={JSON.stringify(entry.details)}>
                {summary(entry.details)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
