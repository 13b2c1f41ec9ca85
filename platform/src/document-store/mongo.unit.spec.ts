import { describe, expect, it } from 'vitest';
import { segmentQuery } from './mongo';
import { encodeCursor, planFind, resolveSpec } from './query';

const spec = resolveSpec({ name: 'orders', indexes: ['status', 'createdAt', 'total'], compound: [['status', 'createdAt']] });
const queries = (options: Parameters<typeof planFind>[1]) => {
  const plan = planFind(spec, options);
  return plan.segments.map((s) => segmentQuery(plan, s));
};

describe('Mongo query translation', () => {
  it('builds a first page sorted descending: dated documents first, then undated, ties by _id', () => {
    expect(queries({ filter: { status: 'placed', total: { $gte: 1, $lt: 9 } }, sort: { field: 'createdAt', direction: 'desc' } })).toEqual([
      {
        query: { $and: [{ status: 'placed' }, { total: { $gte: 1, $lt: 9 } }, { createdAt: { $ne: null } }] },
        sort: { createdAt: -1, _id: -1 },
      },
      { query: { $and: [{ status: 'placed' }, { total: { $gte: 1, $lt: 9 } }, { createdAt: null }] }, sort: { createdAt: -1, _id: -1 } },
    ]);
  });

  it('continues after a cursor with a keyset range, never a skip', () => {
    const cursor = encodeCursor({ field: 'createdAt', direction: 'asc', value: '2026-01-02', id: 'o7' });
    expect(queries({ filter: { status: { $in: ['a', 'b'] } }, sort: { field: 'createdAt', direction: 'asc' }, cursor })).toEqual([
      {
        query: {
          $and: [
            { status: { $in: ['a', 'b'] } },
            { createdAt: { $gte: '2026-01-02' }, $or: [{ createdAt: { $gt: '2026-01-02' } }, { _id: { $gt: 'o7' } }] },
          ],
        },
        sort: { createdAt: 1, _id: 1 },
      },
    ]);
    const inNulls = encodeCursor({ field: 'createdAt', direction: 'desc', value: null, id: 'o3' });
    expect(queries({ sort: { field: 'createdAt', direction: 'desc' }, cursor: inNulls })).toEqual([
      { query: { $and: [{ createdAt: null }, { _id: { $lt: 'o3' } }] }, sort: { createdAt: -1, _id: -1 } },
    ]);
  });

  it('maps id to _id and needs no null segment when the filter excludes nulls', () => {
    expect(queries({ filter: { id: { $in: ['x', 'y'] } } })).toEqual([{ query: { _id: { $in: ['x', 'y'] } }, sort: { _id: 1 } }]);
    expect(queries({ filter: { createdAt: { $gte: '2026' } }, sort: { field: 'createdAt', direction: 'asc' } })).toEqual([
      { query: { $and: [{ createdAt: { $gte: '2026' } }, { createdAt: { $ne: null } }] }, sort: { createdAt: 1, _id: 1 } },
    ]);
  });
});
