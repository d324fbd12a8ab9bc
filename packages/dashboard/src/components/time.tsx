import { absoluteTime, ago, shortTime } from '../format.ts';

/**
 * A timestamp in the viewer's time zone; the absolute time (with the zone) shows on hover
 * and is what screen readers hear.
 */
export function Time({ iso, relative = false }: { iso: string | null | undefined; relative?: boolean }) {
  if (iso === null || iso === undefined) return <span class="muted">never</span>;
  const full = absoluteTime(iso);
  return (
    <time dateTime={iso} title={full} aria-label={full}>
      {relative ? ago(iso) : shortTime(iso)}
    </time>
  );
}
