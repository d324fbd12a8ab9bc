import { FlotillaError, Name } from '@flotilla/protocol';
import { MAX_WAVES, type PlanInput, type WaveInput } from '@flotilla/protocol/api';
import { formatQuery, parseQuery, parseSelector, type Query } from '@flotilla/protocol/query';

/** How many failed members a wave tolerates: a count, or a percentage of the wave's members. */
export type FailureBudget =
  { readonly kind: 'count'; readonly count: number } | { readonly kind: 'percent'; readonly percent: number };

/**
 * One wave of a plan, as stored. Exactly one of `percent` (of the rollout's selected targets,
 * cumulative) and `selector` (a canonical query string, further narrowing the rollout's
 * selector). The gate settings, when present, override the plan's.
 */
export interface WaveSpec {
  readonly name: string;
  readonly percent?: number;
  readonly selector?: string;
  readonly bakeMs?: number;
  readonly failureBudget?: FailureBudget;
  readonly timeoutMs?: number | null;
}

/** A rollout's plan as stored: never changed once the rollout exists. */
export interface RolloutPlan {
  readonly waves: readonly WaveSpec[];
  readonly bakeMs: number;
  readonly failureBudget: FailureBudget;
  /** How long a wave may take to meet its gates; null waits forever. */
  readonly timeoutMs: number | null;
  /** Roll back by itself (instead of pausing) when a wave exceeds its budget or times out. */
  readonly rollbackOnFailure: boolean;
}

/** The gate settings in force for one wave: its own, else the plan's. */
export interface WaveGates {
  readonly bakeMs: number;
  readonly failureBudget: FailureBudget;
  readonly timeoutMs: number | null;
}

const MAX_DURATION_MS = 30 * 86_400_000;

function invalid(message: string, path: string): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', `${path}: ${message}`, { path });
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `90s`, `10m`, `1h30m`, `2d`, `250ms`, `0` in milliseconds; a number is seconds.
 *
 * @example parseDuration('1h30m', 'bake') // 5_400_000
 */
export function parseDuration(value: string | number, path: string): number {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw invalid(`a duration is a number of seconds of at least 0, or text such as 10m; received ${value}`, path);
    ms = Math.round(value * 1000);
  } else {
    const text = value.trim();
    if (text === '0') return 0;
    const parts = /^(?:\d+(?:ms|s|m|h|d))+$/.test(text) ? [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)] : [];
    if (parts.length === 0)
      throw invalid(
        `a duration is a number and a unit (ms, s, m, h, d) such as 90s, 10m or 1h30m, or 0; received '${value}'`,
        path,
      );
    ms = parts.reduce((sum, [, n, unit]) => sum + Number(n) * DURATION_UNITS[unit!]!, 0);
  }
  if (ms > MAX_DURATION_MS) throw invalid(`a duration is at most 30d; received '${value}'`, path);
  return ms;
}

/** A duration as an operator writes it: `1h30m`, `90s`, `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return rest > 0 ? `${text}${rest}ms` : text;
}

/** `2` (failed members) or `5%` (of the wave's members). */
export function parseFailureBudget(value: string | number, path: string): FailureBudget {
  const text = String(value).trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent !== null) {
    const n = Number(percent[1]);
    if (n > 100) throw invalid(`a failure budget percentage is at most 100%; received '${text}'`, path);
    return { kind: 'percent', percent: n };
  }
  if (!/^\d+$/.test(text))
    throw invalid(
      `a failure budget is a count of failed targets such as 2, or a percentage of the wave such as 5%; received '${text}'`,
      path,
    );
  return { kind: 'count', count: Number(text) };
}

export function formatFailureBudget(budget: FailureBudget): string {
  return budget.kind === 'count' ? String(budget.count) : `${budget.percent}%`;
}

/** How many failed members a wave of `size` members tolerates. */
export function allowedFailures(budget: FailureBudget, size: number): number {
  return budget.kind === 'count' ? budget.count : Math.floor((budget.percent * size) / 100 + 1e-9);
}

function parsePercent(value: number | string, path: string): number {
  const text = String(value).trim();
  const match = /^(\d+(?:\.\d{1,2})?)%?$/.exec(text);
  const n = match === null ? Number.NaN : Number(match[1]);
  if (!(n > 0 && n <= 100))
    throw invalid(
      `a wave's percentage is more than 0 and at most 100, with at most two decimals, such as 1%, 12.5% or 100%; received '${text}'`,
      path,
    );
  return n;
}

/**
 * The inline form of waves, `name:spec` separated by commas, where a spec is a percentage
 * (`10%`) or a query (`tier=staging`). Names are optional (`1%,10%,100%`). A query that
 * holds commas continues into the next piece unless that piece starts with `name:`; a
 * plan file says the same without ambiguity.
 *
 * @example parseInlineWaves('canary:1%,staging:tier=staging,rest:100%')
 */
export function parseInlineWaves(text: string): WaveInput[] {
  const pieces: string[] = [];
  for (const piece of text.split(',')) {
    if (pieces.length > 0 && !/^\s*[a-z0-9][a-z0-9-]*:/.test(piece) && !/^\s*\d+(\.\d+)?%\s*$/.test(piece))
      pieces[pieces.length - 1] += `,${piece}`;
    else pieces.push(piece);
  }
  return pieces.map((raw, i) => {
    const piece = raw.trim();
    const colon = /^([a-z0-9][a-z0-9-]*):(.*)$/s.exec(piece);
    const name = colon?.[1] ?? `wave-${i + 1}`;
    const spec = (colon?.[2] ?? piece).trim();
    if (spec === '')
      throw invalid(`wave '${name}' has no percentage or selector; write name:10% or name:tier=staging`, `waves[${i}]`);
    // A bare number would read as a query for a label or property of that name, which no
    // target has: it is a percentage without its sign.
    if (/^\d+(\.\d+)?$/.test(spec))
      throw invalid(
        `wave '${name}' is '${spec}', which is neither a percentage nor a selector; write ${name}:${spec}% for ${spec}% of the selected targets, or a selector such as ${name}:tier=staging`,
        `waves[${i}]`,
      );
    return /^\d+(\.\d+)?%$/.test(spec) ? { name, percent: spec } : { name, selector: spec };
  });
}

/** Checks a parsed selector against the fleet (unknown keys are errors, not empty matches). */
export type SelectorCheck = (query: Query, source: string | undefined) => void;

/** Parses a selector written as a query string or as a selector object, and checks it. */
export function parseSelectorInput(value: string | Record<string, unknown>, check: SelectorCheck): Query {
  const query = typeof value === 'string' ? parseQuery(value) : parseSelector(value);
  check(query, typeof value === 'string' ? value : undefined);
  return query;
}

/**
 * Validates and normalizes a plan: every wave has a name and one of percentage or selector,
 * percentages grow from wave to wave, nothing follows a 100% wave, durations and budgets
 * read. Without waves the plan is one wave of every selected target.
 *
 * @throws FlotillaError `VALIDATION_FAILED` (with `details.path`), or a query error for a wave selector.
 */
export function normalizePlan(input: PlanInput, check: SelectorCheck): RolloutPlan {
  const waveInputs =
    input.waves === undefined
      ? [{ name: 'all', percent: 100 }]
      : typeof input.waves === 'string'
        ? parseInlineWaves(input.waves)
        : input.waves;
  if (waveInputs.length === 0) throw invalid('a plan has at least one wave', 'waves');
  if (waveInputs.length > MAX_WAVES)
    throw invalid(`a plan has at most ${MAX_WAVES} waves; received ${waveInputs.length}`, 'waves');
  const names = new Set<string>();
  let lastPercent: { name: string; percent: number } | undefined;
  let coversAll: string | undefined;
  const waves = waveInputs.map((wave, i): WaveSpec => {
    const path = `waves[${i}]`;
    const name = wave.name ?? `wave-${i + 1}`;
    const parsedName = Name.safeParse(name);
    if (!parsedName.success)
      throw invalid(`a wave name is 1-63 lowercase letters, digits and dashes; received '${name}'`, `${path}.name`);
    if (names.has(name)) throw invalid(`wave names must be distinct; '${name}' appears twice`, `${path}.name`);
    names.add(name);
    if (coversAll !== undefined)
      throw invalid(
        `wave '${name}' comes after wave '${coversAll}', which already covers every selected target; remove it or lower '${coversAll}'`,
        path,
      );
    if ((wave.percent === undefined) === (wave.selector === undefined))
      throw invalid(
        `wave '${name}' needs exactly one of percent (such as 10%) or selector (such as tier=staging)`,
        path,
      );
    const gates = {
      ...(wave.bake === undefined ? {} : { bakeMs: parseDuration(wave.bake, `${path}.bake`) }),
      ...(wave.failureBudget === undefined
        ? {}
        : { failureBudget: parseFailureBudget(wave.failureBudget, `${path}.failureBudget`) }),
      ...(wave.timeout === undefined ? {} : { timeoutMs: parseTimeout(wave.timeout, `${path}.timeout`) }),
    };
    if (wave.percent !== undefined) {
      const percent = parsePercent(wave.percent, `${path}.percent`);
      if (lastPercent !== undefined && percent <= lastPercent.percent) {
        throw invalid(
          `percentages are cumulative and must grow from wave to wave: wave '${name}' (${percent}%) is not larger than wave '${lastPercent.name}' (${lastPercent.percent}%) before it`,
          `${path}.percent`,
        );
      }
      lastPercent = { name, percent };
      if (percent === 100) coversAll = name;
      return { name, percent, ...gates };
    }
    const query = parseSelectorInput(wave.selector!, check);
    const selector = formatQuery(query);
    if (selector === '') {
      coversAll = name;
      return { name, percent: 100, ...gates };
    }
    return { name, selector, ...gates };
  });
  return {
    waves,
    bakeMs: input.bake === undefined ? 0 : parseDuration(input.bake, 'bake'),
    failureBudget:
      input.failureBudget === undefined
        ? { kind: 'count', count: 0 }
        : parseFailureBudget(input.failureBudget, 'failureBudget'),
    timeoutMs: input.timeout === undefined ? null : parseTimeout(input.timeout, 'timeout'),
    rollbackOnFailure: input.rollbackOnFailure ?? false,
  };
}

function parseTimeout(value: string | number | null, path: string): number | null {
  if (value === null || value === 'none') return null;
  const ms = parseDuration(value, path);
  if (ms === 0) throw invalid(`a timeout is longer than 0 (or none, to wait forever); received '${value}'`, path);
  return ms;
}

/** The gates in force for wave `index`: the wave's own settings, else the plan's. */
export function waveGates(plan: RolloutPlan, index: number): WaveGates {
  const wave = plan.waves[index];
  return {
    bakeMs: wave?.bakeMs ?? plan.bakeMs,
    failureBudget: wave?.failureBudget ?? plan.failureBudget,
    timeoutMs: wave?.timeoutMs === undefined ? plan.timeoutMs : wave.timeoutMs,
  };
}

/** A wave's spec as written: `10%` or its selector. */
export function waveSpecText(wave: WaveSpec): string {
  return wave.percent !== undefined ? `${wave.percent}%` : wave.selector!;
}
