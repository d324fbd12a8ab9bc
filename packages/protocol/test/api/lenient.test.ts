import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { lenient } from '../../src/api/lenient.ts';
import { Resource } from '../../src/documents/resource.ts';
import { Target } from '../../src/documents/target.ts';
import { TargetPage } from '../../src/api/targets.ts';

const TARGET: Target = {
  id: 'tgt_0123456789abcdef0123',
  name: 'edge-1',
  status: 'active',
  labels: {},
  properties: {},
  facts: {},
  keyId: 'k',
  desired: { generation: 0, bundles: [] },
  observed: null,
  enrolledAt: '2025-06-01T00:00:00.000Z',
  lastSeenAt: null,
  lastChangedAt: '2025-06-01T00:00:00.000Z',
  lastChangedBy: { kind: 'agent', id: 'tgt_0123456789abcdef0123' },
};

describe('lenient', () => {
  it('drops keys a newer hub added at any depth, where the strict schema refuses them', () => {
    const answer = {
      items: [{ ...TARGET, newField: 1, desired: { ...TARGET.desired, newer: true } }],
      total: 1,
      extra: 'x',
    };
    expect(Target.safeParse(answer.items[0]).success).toBe(false);
    expect(lenient(TargetPage).parse(answer)).toEqual({ items: [TARGET], total: 1 });
  });

  it('keeps every field of a loose object, such as a resource', () => {
    const resource = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', uid: 'u' }, data: { k: 'v' } };
    expect(lenient(Resource).parse(resource)).toEqual(resource);
  });

  it('still refuses what the schema does not allow', () => {
    expect(lenient(TargetPage).safeParse({ items: [{ ...TARGET, status: 'gone' }], total: 1 }).success).toBe(false);
  });

  it('keeps refinements, defaults and transforms', () => {
    const schema = z.strictObject({
      n: z.number().refine((v) => v > 0),
      d: z.string().default('x'),
      t: z.string().transform((v) => v.length),
    });
    expect(lenient(schema).parse({ n: 1, t: 'abc', other: 1 })).toEqual({ n: 1, d: 'x', t: 3 });
    expect(lenient(schema).safeParse({ n: -1, t: '' }).success).toBe(false);
  });
});
