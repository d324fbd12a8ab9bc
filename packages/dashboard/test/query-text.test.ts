import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseQuery } from '@flotilla/protocol/query';
import { queryValue } from '../src/query-text.ts';

describe('values written into fleet queries by the dashboard', () => {
  it('read back as exactly the value, whatever characters it holds', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }), (value) => {
        const query = parseQuery(`field=${queryValue(value)}`);
        expect(query).toEqual({
          kind: 'in',
          field: { kind: 'key', key: 'field' },
          values: [{ kind: 'text', text: value }],
        });
      }),
      { numRuns: 500 },
    );
  });

  it.each(['and', 'OR', 'in', 'a b', 'x,y', 'eu-*'])('quotes %s, which a bare word would read otherwise', (value) => {
    expect(queryValue(value).startsWith('"')).toBe(true);
  });
});
