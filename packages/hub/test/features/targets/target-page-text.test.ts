import { describe, expect, it } from 'vitest';
import { targetPageFromText } from '../../../src/features/targets/target-page-text.ts';

const id = (n: number): string => `tgt_${n.toString(16).padStart(20, '0')}`;
const MS = Date.UTC(2026, 0, 1);

/** A target's six pieces as the page aggregate writes them. */
const pieces = (n: number): string[] => [
  id(n),
  `{"id":"${id(n)}"`,
  String(MS),
  '',
  String(MS + n),
  '{"kind":"user","id":"a"}',
];

describe('a page of targets read from its aggregated text', () => {
  it('is empty when no row matched', () => {
    expect(targetPageFromText(null)).toEqual([]);
  });

  it('puts the documents in id order whatever order the database aggregated the rows in', () => {
    const text = [...pieces(3), ...pieces(1), ...pieces(2)].join('\u0001');
    expect(targetPageFromText(text).map((target) => target.id)).toEqual([id(1), id(2), id(3)]);
  });

  it('writes the times as toISOString does, and a target never seen as null', () => {
    const [target] = targetPageFromText(pieces(7).join('\u0001'));
    expect(JSON.parse(target!.json)).toEqual({
      id: id(7),
      enrolledAt: new Date(MS).toISOString(),
      lastSeenAt: null,
      lastChangedAt: new Date(MS + 7).toISOString(),
      lastChangedBy: { kind: 'user', id: 'a' },
    });
  });
});
