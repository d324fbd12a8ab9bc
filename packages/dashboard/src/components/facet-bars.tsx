import { count } from '../format.ts';

export interface FacetBar {
  readonly label: string;
  readonly value: number;
  /** Where a click leads: the targets page narrowed to this bar. */
  readonly href: string;
  readonly tone?: string;
}

/**
 * A small horizontal bar chart whose bars are links: a count and its share of the largest
 * bar, drawn in SVG (no chart library, nothing inline for the CSP to allow).
 */
export function FacetBars({
  title,
  bars,
  empty = 'nothing reported yet',
}: {
  title: string;
  bars: readonly FacetBar[];
  empty?: string;
}) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const id = `facet-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="card facet" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {bars.length === 0 ? (
        <p class="muted">{empty}</p>
      ) : (
        <ul class="bars">
          {bars.map((bar) => (
            <li key={bar.label}>
              <a href={bar.href} class="bar-link">
                <span class="bar-label">
                  <span class="sr-only">{title} </span>
                  {bar.label}
                  <span class="sr-only">:</span>
                </span>
                <svg
                  class="bar-svg"
                  viewBox="0 0 100 10"
                  preserveAspectRatio="none"
                  aria-hidden="true"
                  focusable="false"
                >
                  <rect class="bar-track" x="0" y="0" width="100" height="10" rx="2" />
                  <rect
                    class={`bar-fill tone-${bar.tone ?? 'default'}`}
                    x="0"
                    y="0"
                    width={bar.value === 0 ? 0 : Math.max(1, (bar.value / max) * 100)}
                    height="10"
                    rx="2"
                  />
                </svg>
                <span class="bar-count">
                  {count(bar.value)}
                  <span class="sr-only"> targets</span>
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
