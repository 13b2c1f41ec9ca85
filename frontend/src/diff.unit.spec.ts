import { describe, it, expect } from 'vitest';
import { diffJson, serverChanges } from './diff';

describe('diffJson', () => {
  it('lists leaf changes, additions and removals by dotted path', () => {
    const before = { status: 'pending', items: [{ sku: 'A', qty: 1 }], payment: { last4: '4242' } };
    const after = { status: 'confirmed', items: [{ sku: 'A', qty: 2 }, { sku: 'B', qty: 1 }], confirmedAt: 't' };
    expect(diffJson(before, after)).toEqual([
      { path: 'status', kind: 'changed', before: 'pending', after: 'confirmed' },
      { path: 'items.0.qty', kind: 'changed', before: 1, after: 2 },
      { path: 'items.1', kind: 'added', after: { sku: 'B', qty: 1 } },
      { path: 'payment', kind: 'removed', before: { last4: '4242' } },
      { path: 'confirmedAt', kind: 'added', after: 't' },
    ]);
  });

  it('treats the first revision as the whole state added', () => {
    expect(diffJson(undefined, { a: 1 })).toEqual([{ path: '(state)', kind: 'added', after: { a: 1 } }]);
    expect(diffJson({ a: 1 }, { a: 1 })).toEqual([]);
  });
});

describe('serverChanges', () => {
  it("reads the read API's JSON-Patch-like changes with JSON Pointer paths", () => {
    expect(
      serverChanges([
        { op: 'replace', path: '/status', oldValue: 'pending', value: 'confirmed' },
        { op: 'add', path: '/items/1', value: { sku: 'B' } },
        { op: 'remove', path: '/a~1b', oldValue: 1 },
        { op: 'add', path: '', value: { a: 1 } },
      ]),
    ).toEqual([
      { path: 'status', kind: 'changed', before: 'pending', after: 'confirmed' },
      { path: 'items.1', kind: 'added', after: { sku: 'B' } },
      { path: 'a/b', kind: 'removed', before: 1 },
      { path: '(state)', kind: 'added', after: { a: 1 } },
    ]);
  });

  it('reads {path, before|from, after|to} lists and rejects other shapes', () => {
    expect(serverChanges([{ path: ['a', 'b'], from: 1, to: 2 }, { path: 'c', after: 3 }])).toEqual([
      { path: 'a.b', kind: 'changed', before: 1, after: 2 },
      { path: 'c', kind: 'added', before: undefined, after: 3 },
    ]);
    expect(serverChanges({ a: 1 })).toBeNull();
    expect(serverChanges([{ nope: true }])).toBeNull();
  });
});
