/**
 * Kubernetes resource quantities (`500m`, `1Gi`, `2e3`). The API server rewrites them into a
 * canonical form (`1000m` comes back as `1`), so comparing them as strings would report drift
 * that nobody made.
 */

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

const MULTIPLIER: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The numeric value of a quantity, or undefined when the value is not one. */
export function parseQuantity(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = QUANTITY.exec(value);
  if (match === null) return undefined;
  const base = Number(match[1]);
  if (match[2] !== undefined) return base * 10 ** Number(match[2]);
  if (match[3] !== undefined) return base * (MULTIPLIER[match[3]] as number);
  return base;
}

/** True when both values are quantities of the same amount, whatever their spelling. */
export function quantitiesEqual(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (x === undefined || y === undefined) return false;
  // Suffix arithmetic in floating point (0.1 * 1e3) is not exact; a relative tolerance far
  // below any meaningful resource difference absorbs it.
  return x === y || Math.abs(x - y) <= Math.max(Math.abs(x), Math.abs(y)) * 1e-12;
}

/** Map keys whose values are quantities: resource requests, limits, quotas. */
export const QUANTITY_PARENTS: ReadonlySet<string> = new Set([
  'limits',
  'requests',
  'hard',
  'capacity',
  'allocatable',
  'overhead',
  'max',
  'min',
  'default',
  'defaultRequest',
  'maxLimitRequestRatio',
]);
