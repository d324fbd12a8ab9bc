/** A short state word with a colour that also reads without colour. */
export function Badge({ value, kind = value }: { value: string | null | undefined; kind?: string | null | undefined }) {
  if (value === null || value === undefined || value === '') return <span class="muted">—</span>;
  return <span class={`badge badge-${(kind ?? 'none').replace(/[^a-z-]/g, '')}`}>{value}</span>;
}
