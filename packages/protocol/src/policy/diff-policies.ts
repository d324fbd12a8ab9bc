import { canonicalize } from '../canonical-json.ts';
import { formatFreeze, formatWindow, type Freeze, type Window } from './change-window.ts';
import { canonicalPolicy } from './canonical-policy.ts';
import type { Policy } from './policy-document.ts';

/**
 * One difference between two versions of a policy. Lists that are sets report the entries
 * added or removed (the path names the list); other values report the change of the value
 * at the path. Windows and freezes are shown in their short form.
 */
export interface PolicyChange {
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function shortForms(path: string, items: readonly Json[]): Json[] {
  if (path === 'spec.windows.allow') return items.map((item) => formatWindow(item as unknown as Window));
  if (path === 'spec.windows.freezes') {
    return items.map((item) => {
      const freeze = item as unknown as Freeze;
      return freeze.reason === undefined ? formatFreeze(freeze) : `${formatFreeze(freeze)} (${freeze.reason})`;
    });
  }
  return [...items];
}

function walk(path: string, before: Json | undefined, after: Json | undefined, out: PolicyChange[]): void {
  if (before === undefined && after === undefined) return;
  if (before === undefined) {
    out.push({ path, change: 'added', after });
    return;
  }
  if (after === undefined) {
    out.push({ path, change: 'removed', before });
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const a = shortForms(path, before);
    const b = shortForms(path, after);
    const keysA = new Map(a.map((item) => [canonicalize(item), item]));
    const keysB = new Map(b.map((item) => [canonicalize(item), item]));
    for (const [key, item] of keysA) if (!keysB.has(key)) out.push({ path, change: 'removed', before: item });
    for (const [key, item] of keysB) if (!keysA.has(key)) out.push({ path, change: 'added', after: item });
    return;
  }
  const isObject = (value: Json): value is { [key: string]: Json } =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject(before) && isObject(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      walk(path === '' ? key : `${path}.${key}`, before[key], after[key], out);
    }
    return;
  }
  if (canonicalize(before) !== canonicalize(after)) out.push({ path, change: 'changed', before, after });
}

/**
 * The canonical difference between two versions of a policy, for `flotilla policy diff`:
 * compares canonical forms (so reordered lists, respelled scopes and short versus long
 * window forms are no difference), in path order. `undefined` on one side is a policy that
 * does not exist there (created or deleted): every field is added or removed.
 */
export function diffPolicies(before: Policy | undefined, after: Policy | undefined): PolicyChange[] {
  const out: PolicyChange[] = [];
  const a = before === undefined ? undefined : (JSON.parse(canonicalize(canonicalPolicy(before))) as Json);
  const b = after === undefined ? undefined : (JSON.parse(canonicalize(canonicalPolicy(after))) as Json);
  walk('', a, b, out);
  return out;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : canonicalize(value);
}

/**
 * The changes as lines a person reads: `+ path: value` added, `- path: value` removed,
 * `~ path: before -> after` changed. Empty when the versions mean the same.
 */
export function formatPolicyDiff(changes: readonly PolicyChange[]): string {
  return changes
    .map((change) => {
      switch (change.change) {
        case 'added':
          return `+ ${change.path}: ${show(change.after)}`;
        case 'removed':
          return `- ${change.path}: ${show(change.before)}`;
        case 'changed':
          return `~ ${change.path}: ${show(change.before)} -> ${show(change.after)}`;
      }
    })
    .join('\n');
}
