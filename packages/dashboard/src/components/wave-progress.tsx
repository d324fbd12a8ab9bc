import type { WaveCounts } from '../types.ts';

const PARTS: readonly (readonly [keyof WaveCounts, string])[] = [
  ['healthy', 'good'],
  ['pending', 'info'],
  ['failed', 'bad'],
  ['blocked', 'warn'],
  ['reverting', 'warn'],
  ['reverted', 'muted'],
  ['planned', 'track'],
];

/** A wave's members as one stacked bar (healthy, pending, failed, blocked, planned), with the numbers in words beside it. */
export function WaveProgress({ counts, label }: { counts: WaveCounts; label: string }) {
  const total = Math.max(1, counts.total);
  let x = 0;
  const words = PARTS.filter(([key]) => counts[key] > 0).map(([key]) => `${counts[key]} ${key}`);
  return (
    <div class="wave-progress">
      <svg
        viewBox="0 0 100 8"
        preserveAspectRatio="none"
        class="progress-svg"
        role="img"
        aria-label={`${label}: ${words.join(', ') || 'no members'}`}
      >
        <rect class="bar-track" x="0" y="0" width="100" height="8" rx="2" />
        {PARTS.map(([key, tone]) => {
          const width = (counts[key] / total) * 100;
          const rect =
            width > 0 ? <rect key={key} class={`bar-fill tone-${tone}`} x={x} y="0" width={width} height="8" /> : null;
          x += width;
          return rect;
        })}
      </svg>
      <span class="small" data-testid="wave-counts">
        {counts.applied}/{counts.total} applied · {words.join(' · ') || 'no members yet'}
      </span>
    </div>
  );
}
