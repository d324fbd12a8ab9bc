import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseQuery } from '@flotilla/protocol/query';
import { quoteValue } from '../../../src/features/targets/query-completion.ts';

describe('values the query completion inserts', () => {
  it('read back as exactly the value, whatever characters it holds', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }), (value) => {
        expect(parseQuery(`field=${quoteValue(value)}`)).toEqual({
          kind: 'in',
          field: { kind: 'key', key: 'field' },
          values: [{ kind: 'text', text: value }],
        });
      }),
      { numRuns: 500 },
    );
  });
});
