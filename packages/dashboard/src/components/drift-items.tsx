import { Badge } from './badge.tsx';
import { Time } from './time.tsx';
import type { DriftItem } from '../types.ts';

/**
 * Drift items as a table: class, resource and path, what changed from what to what, who
 * changed it, and what the agent did. `onRevert` adds a revert button per item (deployers).
 */
export function DriftItems({
  items,
  showTarget,
  onRevert,
  caption,
}: {
  items: readonly DriftItem[];
  showTarget: boolean;
  onRevert?: ((item: DriftItem) => void) | undefined;
  caption: string;
}) {
  if (items.length === 0) return <p class="muted">None.</p>;
  return (
    <div class="table-wrap">
      <table class="data">
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Class</th>
            {showTarget ? <th scope="col">Target</th> : null}
            <th scope="col">Resource</th>
            <th scope="col">Path</th>
            <th scope="col">Change</th>
            <th scope="col">By</th>
            <th scope="col">Action</th>
            <th scope="col">Hold</th>
            {showTarget ? <th scope="col">Reported</th> : null}
            {onRevert === undefined ? null : (
              <th scope="col">
                <span class="sr-only">Revert</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={`${item.targetId ?? ''}:${item.id}`}>
              <td>
                <Badge value={item.class} />
              </td>
              {showTarget ? (
                <td>
                  <a href={`/targets/${encodeURIComponent(item.targetId ?? '')}`}>{item.target ?? item.targetId}</a>
                </td>
              ) : null}
              <td class="mono">{item.resourceKey}</td>
              <td class="mono">{item.path}</td>
              <td class="mono clip" title={`${item.desired ?? '∅'} → ${item.observed ?? '∅'}`}>
                {item.change}: {item.desired ?? '∅'} → {item.observed ?? '∅'}
              </td>
              <td>{item.actor.manager}</td>
              <td>{item.action}</td>
              <td>
                {item.holdId === undefined ? (
                  <span class="muted">—</span>
                ) : (
                  <Badge value={`held: ${item.holdId}`} kind="held" />
                )}
              </td>
              {showTarget ? (
                <td>
                  <Time iso={item.reportedAt} relative />
                </td>
              ) : null}
              {onRevert === undefined ? null : (
                <td>
                  <button
                    type="button"
                    onClick={() => onRevert(item)}
                    aria-label={`Revert ${item.resourceKey} ${item.path}`}
                  >
                    Revert
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
