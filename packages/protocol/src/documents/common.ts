import { z } from 'zod';

export const API_VERSION = 'flotilla.io/v1';
export const ApiVersion = z.literal(API_VERSION);

export const Timestamp = z.iso.datetime({ offset: true });

/** A stable target id: `tgt_` and 20 lowercase hex digits, never reused. */
export const TargetId = z.string().regex(/^tgt_[0-9a-f]{20}$/, 'a target id looks like tgt_ followed by 20 hex digits');
export type TargetId = z.infer<typeof TargetId>;

/** A DNS-label-like name: what people type, so it is short and safe in paths and shells. */
export const Name = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a name is 1-63 lowercase letters, digits and dashes, starting and ending with a letter or digit',
  );

export const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'a digest is sha256: followed by 64 hex digits');

const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/,
    'a label key is an optional DNS prefix and a slash, then up to 63 letters, digits, dashes, dots and underscores',
  );
export const Labels = z.record(
  labelKey,
  z
    .string()
    .max(63)
    .regex(
      /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/,
      'a label value is up to 63 letters, digits, dashes, dots and underscores',
    ),
);
export type Labels = z.infer<typeof Labels>;

const NUL_MESSAGE = 'text may not hold the NUL character (U+0000), which the hub cannot store';

/**
 * Text the hub stores and indexes as text: PostgreSQL cannot hold U+0000 (SQLite could), so it
 * is refused where it enters and both stores keep the same.
 */
export function storedText(max: number): z.ZodString {
  return z
    .string()
    .max(max)
    .refine((text) => !text.includes('\u0000'), NUL_MESSAGE);
}

/** Whether any string in a parsed JSON value, key or value at any depth, holds U+0000. */
export function holdsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return true;
    } else if (Array.isArray(item)) stack.push(...(item as unknown[]));
    else if (typeof item === 'object' && item !== null)
      for (const [key, child] of Object.entries(item)) {
        if (key.includes('\u0000')) return true;
        stack.push(child);
      }
  }
  return false;
}

/** Refines a schema of free-form JSON to refuse U+0000 anywhere in it (see {@link storedText}). */
export function refuseNul(ctx: { value: unknown; issues: unknown[] }): void {
  if (holdsNul(ctx.value)) ctx.issues.push({ code: 'custom', message: NUL_MESSAGE, input: ctx.value });
}

/** Typed operator facts about a target: region, tier, customer, owner and any other key. */
const PropertyValue = z.union([storedText(256), z.number().finite(), z.boolean()]);
export const Properties = z.record(
  z
    .string()
    .regex(
      /^[a-zA-Z][a-zA-Z0-9_.-]{0,62}$/,
      'a property key starts with a letter and has up to 63 letters, digits, dots, dashes and underscores',
    ),
  PropertyValue,
);
export type Properties = z.infer<typeof Properties>;

export const ReleaseRef = z.strictObject({
  name: Name,
  version: storedText(64).min(1),
  digest: Digest,
});
export type ReleaseRef = z.infer<typeof ReleaseRef>;
