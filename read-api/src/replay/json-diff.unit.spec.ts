import { describe, expect, it } from 'vitest';
import { jsonDiff } from './json-diff';

describe('jsonDiff', () => {
  it('lists what an event changed in a state, by JSON Pointer', () => {
    const before = { status: 'pending', items: [{ sku: 'A', quantity: 1 }], payment: { captured: 0 }, note: 'x' };
    const after = { status: 'confirmed', items: [{ sku: 'A', quantity: 2 }, { sku: 'B/1', quantity: 1 }], payment: { captured: 500, id: 'p1' } };
    expect(jsonDiff(before, after)).toEqual([
      { op: 'replace', path: '/status', oldValue: 'pending', value: 'confirmed' },
      { op: 'replace', path: '/items/0/quantity', oldValue: 1, value: 2 },
      { op: 'add', path: '/items/1', value: { sku: 'B/1', quantity: 1 } },
      { op: 'replace', path: '/payment/captured', oldValue: 0, value: 500 },
      { op: 'add', path: '/payment/id', value: 'p1' },
      { op: 'remove', path: '/note', oldValue: 'x' },
    ]);
  });

  it('replaces a value whose shape changes, and finds nothing between equal values', () => {
    expect(jsonDiff({ status: 'none' }, { status: 'placed', order: { id: 'o/1' } })).toEqual([
      { op: 'replace', path: '/status', oldValue: 'none', value: 'placed' },
      { op: 'add', path: '/order', value: { id: 'o/1' } },
    ]);
    expect(jsonDiff([1, { a: [2] }], [1, { a: [2] }])).toEqual([]);
    expect(jsonDiff(null, { a: 1 })).toEqual([{ op: 'replace', path: '', oldValue: null, value: { a: 1 } }]);
  });
});
