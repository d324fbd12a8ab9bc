const BARE = /^[\p{L}\p{N}_\-./:+@%]+$/u;
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'notin']);

/** A value written for the query language: quoted when a bare word cannot hold it. */
export function queryValue(value: string): string {
  if (BARE.test(value) && !KEYWORDS.has(value.toLowerCase())) return value;
  return `"${value.replace(/(["\\*?])/g, '\\$1')}"`;
}

/** `field=value`, quoted as needed. */
export function condition(field: string, value: string): string {
  return `${field}=${queryValue(value)}`;
}

/** Adds a condition to a query (commas mean and). */
export function narrow(query: string, extra: string): string {
  return query.trim() === '' ? extra : `${query.trim()}, ${extra}`;
}

/** The targets page narrowed to a query. */
export function targetsHref(query: string): string {
  return `/targets?q=${encodeURIComponent(query)}`;
}

/** The fleet query of each last-seen age bucket of the facets. */
export const LAST_SEEN_QUERIES: Readonly<Record<string, { label: string; query: string }>> = {
  '5m': { label: 'within 5 minutes', query: 'lastSeen>now-5m' },
  '1h': { label: '5 minutes to 1 hour', query: 'lastSeen<=now-5m, lastSeen>now-1h' },
  '24h': { label: '1 to 24 hours', query: 'lastSeen<=now-1h, lastSeen>now-24h' },
  older: { label: 'over 24 hours', query: 'lastSeen<=now-24h' },
  never: { label: 'never', query: '!lastSeen' },
};
