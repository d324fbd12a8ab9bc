import { describe, expect, it } from 'vitest';
import { ordinal, removalOrder } from '../../src/drivers/kubernetes/string-order.ts';

describe('removalOrder', () => {
  it('puts a higher list index first, comparing indexes as numbers', () => {
    expect(['/spec/ports/2', '/spec/ports/10', '/spec/ports/9'].sort(removalOrder)).toEqual([
      '/spec/ports/10',
      '/spec/ports/9',
      '/spec/ports/2',
    ]);
  });

  it('puts a child before its parent', () => {
    expect(['/metadata/labels', '/metadata/labels/app', '/metadata'].sort(removalOrder)).toEqual([
      '/metadata/labels/app',
      '/metadata/labels',
      '/metadata',
    ]);
  });

  it('keeps items of a list valid while removing fields inside them', () => {
    const sorted = ['/spec/containers/0/env/1', '/spec/containers/1/env/0', '/spec/containers/0/env/3'].sort(
      removalOrder,
    );
    expect(sorted).toEqual(['/spec/containers/1/env/0', '/spec/containers/0/env/3', '/spec/containers/0/env/1']);
  });
});

describe('ordinal', () => {
  it('orders by code unit, upper case before lower case', () => {
    expect(['b', 'B', 'a', 'A'].sort(ordinal)).toEqual(['A', 'B', 'a', 'b']);
  });
});
