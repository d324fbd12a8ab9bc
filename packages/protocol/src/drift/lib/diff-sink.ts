import type { DriftChange } from '../../documents/drift-vocabulary.ts';
import type { DriftItem } from '../drift-item.ts';
import { REDACTED } from '../drift-item.ts';
import { formatFieldPath, type PathSegment } from '../field-path.ts';
import type { GlobMatch } from './path-glob.ts';

/**
 * A keyed list item on the path stack, turned into a segment only when an item is emitted:
 * most compared items are equal, and the walk should not allocate for them.
 */
export interface LazyKey {
  readonly item: Record<string, unknown>;
  readonly fields: readonly string[];
}

/** A field name, a list index, or a keyed list item. */
export type StackEntry = string | number | LazyKey;

/** Where a diff of one resource collects its items. */
export interface DiffSink {
  readonly resourceKey: string;
  readonly kind: string;
  /** Secret values are replaced by {@link REDACTED}. */
  readonly redact: boolean;
  /** Path globs the caller asked to leave out. */
  readonly ignore: readonly GlobMatch[];
  readonly stack: StackEntry[];
  readonly items: DriftItem[];
}

function toSegment(entry: StackEntry): PathSegment {
  if (typeof entry === 'string') return { kind: 'field', name: entry };
  if (typeof entry === 'number') return { kind: 'index', index: entry };
  return { kind: 'key', keys: entry.fields.map((field) => [field, String(entry.item[field])] as const) };
}

/** The current path as segments. */
function currentSegments(sink: DiffSink): PathSegment[] {
  return sink.stack.map(toSegment);
}

/** Records one item at the current path, unless the caller ignores that path. */
export function emit(sink: DiffSink, change: DriftChange, desired: unknown, observed: unknown): void {
  const path = formatFieldPath(currentSegments(sink));
  for (const glob of sink.ignore) if (glob(path)) return;
  const hide = sink.redact && sink.stack[0] !== 'metadata';
  const item: { -readonly [K in keyof DriftItem]: DriftItem[K] } = {
    resourceKey: sink.resourceKey,
    kind: sink.kind,
    path,
    change,
  };
  if (desired !== undefined) item.desired = hide ? REDACTED : desired;
  if (observed !== undefined) item.observed = hide ? REDACTED : observed;
  sink.items.push(item);
}

/** A lazily formatted key entry for a desired list item. */
export function lazyKey(item: unknown, fields: readonly string[]): LazyKey {
  return { item: item as Record<string, unknown>, fields };
}
