import { describe, expect, it } from 'vitest';
import { errorFromResponse } from '../src/index.ts';

const fallback = { code: 'INTERNAL', message: 'the hub answered 502' } as const;

describe('errorFromResponse', () => {
  it('keeps the code, message and details the hub sent, and adds the status', () => {
    const error = errorFromResponse(
      400,
      JSON.stringify({ error: { code: 'QUERY_SYNTAX', message: 'expected a value', details: { column: 3 } } }),
      fallback,
    );
    expect(error).toMatchObject({
      code: 'QUERY_SYNTAX',
      message: 'expected a value',
      details: { column: 3, status: 400 },
    });
  });

  it.each([
    ['a body that is not JSON', '<html>bad gateway</html>'],
    ['JSON that is not an error response', '{"ok":false}'],
  ])('falls back for %s', (_name, body) => {
    expect(errorFromResponse(502, body, fallback)).toMatchObject({
      code: 'INTERNAL',
      message: 'the hub answered 502',
      details: { status: 502 },
    });
  });

  it('keeps the message but not a code this version does not know', () => {
    const error = errorFromResponse(
      409,
      JSON.stringify({ error: { code: 'SOMETHING_NEWER', message: 'a newer hub refused this' } }),
      fallback,
    );
    expect(error).toMatchObject({ code: 'INTERNAL', message: 'a newer hub refused this' });
  });
});
