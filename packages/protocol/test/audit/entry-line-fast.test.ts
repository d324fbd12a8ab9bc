import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditEntryLine } from '../../src/audit/index.ts';
import { isPlainEntryLine } from '../../src/audit/lib/entry-line-fast.ts';
import { makeChain } from './audit-fixture.ts';

const line = { kind: 'entry', ...makeChain(1)[0]! } as Record<string, unknown>;

/** Values near a valid line: one member replaced, removed or added. */
const nearLine = fc.oneof(
  fc
    .record({
      key: fc.constantFrom(...Object.keys(line), 'extra'),
      value: fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.date(), fc.string()),
    })
    .map(({ key, value }) => ({ ...line, [key]: value })),
  fc
    .constantFrom(...Object.keys(line))
    .map((key) => Object.fromEntries(Object.entries(line).filter(([k]) => k !== key))),
  fc
    .record({ field: fc.constantFrom('kind', 'id'), value: fc.jsonValue() })
    .map(({ field, value }) => ({ ...line, actor: { ...(line.actor as object), [field]: value } })),
  fc.jsonValue(),
);

describe('the fast check of an entry line', () => {
  it('accepts the lines the hub writes', () => {
    expect(isPlainEntryLine(line)).toBe(true);
  });

  it('never accepts what the schema refuses', () => {
    fc.assert(
      fc.property(nearLine, (value) => {
        if (isPlainEntryLine(value)) expect(AuditEntryLine.safeParse(value).success).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves times in other forms to the schema', () => {
    const offset = { ...line, time: '2025-03-01T13:00:01.000+01:00' };
    expect(isPlainEntryLine(offset)).toBe(false);
    expect(AuditEntryLine.safeParse(offset).success).toBe(true);
  });
});
