/**
 * The behaviour every DocumentStore adapter must show, written from the port's contract.
 * Each adapter's `*.int.spec.ts` runs it with a function that opens a fresh, empty store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../errors';
import { UnindexedFieldError, type Collection, type Document, type DocumentStore, type Filter, type FindOptions } from './port';

interface Order extends Document {
  status: string;
  customerId: string;
  total: number;
  createdAt?: string | null;
  express?: boolean;
  payment?: { state: string };
}

const ORDERS = {
  name: 'orders',
  indexes: ['status', 'customerId', 'total', 'createdAt', 'express', 'payment.state'],
  compound: [['status', 'createdAt'], ['customerId', 'createdAt']],
};

/** Fixed data so each expectation below is read off this table, not off the output. */
const FIXTURE: Order[] = [
  { id: 'o1', status: 'placed', customerId: 'c1', total: 10, createdAt: '2026-01-01', express: true, payment: { state: 'none' } },
  { id: 'o2', status: 'confirmed', customerId: 'c1', total: 25.5, createdAt: '2026-01-02', express: false, payment: { state: 'captured' } },
  { id: 'o3', status: 'placed', customerId: 'c2', total: 40, createdAt: '2026-01-02', payment: { state: 'none' } },
  { id: 'o4', status: 'rejected', customerId: 'c3', total: 5, createdAt: null },
  { id: 'o5', status: 'confirmed', customerId: 'c2', total: 100, createdAt: '2026-01-03', express: true, payment: { state: 'captured' } },
  { id: 'o6', status: 'cancelled', customerId: 'c1', total: 0, payment: { state: 'refunded' } },
];

const ids = (docs: Document[]): string[] => docs.map((d) => d.id);

async function walk<T extends Document>(coll: Collection<T>, options: FindOptions): Promise<{ ids: string[]; pages: number }> {
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await coll.find({ ...options, ...(cursor ? { cursor } : {}) });
    pages += 1;
    expect(page.items.length).toBeLessThanOrEqual(options.limit ?? 100);
    seen.push(...ids(page.items));
    cursor = page.nextCursor ?? undefined;
    if (pages > 1000) throw new Error('pagination does not end');
  } while (cursor);
  return { ids: seen, pages };
}

export function documentStoreContract(name: string, open: () => Promise<DocumentStore>): void {
  describe(`DocumentStore contract: ${name}`, () => {
    const opened: DocumentStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    async function fresh(): Promise<DocumentStore> {
      const store = await open();
      opened.push(store);
      return store;
    }
    async function withOrders(): Promise<{ store: DocumentStore; orders: Collection<Order> }> {
      const store = await fresh();
      const orders = await store.collection<Order>(ORDERS);
      await store.write(FIXTURE.map((doc) => ({ collection: 'orders', op: 'upsert', doc })));
      return { store, orders };
    }

    describe('documents', () => {
      it('upserts, replaces, reads and deletes whole documents', async () => {
        const store = await fresh();
        const orders = await store.collection<Order>(ORDERS);
        await orders.upsert({ id: 'a', status: 'placed', customerId: 'c1', total: 3, payment: { state: 'none' } });
        expect(await orders.get('a')).toEqual({ id: 'a', status: 'placed', customerId: 'c1', total: 3, payment: { state: 'none' } });

        // An upsert replaces the document: a field it no longer has is gone.
        await orders.upsert({ id: 'a', status: 'confirmed', customerId: 'c1', total: 4 });
        expect(await orders.get('a')).toEqual({ id: 'a', status: 'confirmed', customerId: 'c1', total: 4 });

        await orders.upsert({ id: 'b', status: 'placed', customerId: 'c2', total: 1 });
        expect(await orders.getMany(['b', 'missing', 'a'])).toEqual([
          { id: 'b', status: 'placed', customerId: 'c2', total: 1 },
          { id: 'a', status: 'confirmed', customerId: 'c1', total: 4 },
        ]);

        await orders.delete('a');
        expect(await orders.get('a')).toBeNull();
        await orders.delete('a'); // deleting what is gone is not an error
        expect(await orders.count()).toBe(1);
      });

      it('rejects a document without a string id', async () => {
        const store = await fresh();
        const orders = await store.collection<Order>(ORDERS);
        await expect(orders.upsert({ id: '', status: 'x', customerId: 'c', total: 1 })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.upsert({ id: 7, status: 'x' } as unknown as Order)).rejects.toBeInstanceOf(ValidationError);
        expect(await orders.count()).toBe(0);
      });
    });

    describe('atomic write with checkpoints', () => {
      it('applies writes to several collections and the checkpoint together', async () => {
        const store = await fresh();
        const orders = await store.collection<Order>(ORDERS);
        const stats = await store.collection({ name: 'stats', indexes: [] });
        await orders.upsert({ id: 'gone', status: 'placed', customerId: 'c1', total: 1 });
        expect(await store.getCheckpoint('orders-projector')).toBeUndefined();

        await store.write(
          [
            { collection: 'orders', op: 'upsert', doc: { id: 'o1', status: 'placed', customerId: 'c1', total: 10 } },
            { collection: 'stats', op: 'upsert', doc: { id: 'global', placed: 1 } },
            { collection: 'orders', op: 'delete', id: 'gone' },
            { collection: 'orders', op: 'upsert', doc: { id: 'o1', status: 'confirmed', customerId: 'c1', total: 10 } },
          ],
          { 'orders-projector': '42' },
        );
        expect(await orders.find()).toEqual({ items: [{ id: 'o1', status: 'confirmed', customerId: 'c1', total: 10 }], nextCursor: null });
        expect(await stats.get('global')).toEqual({ id: 'global', placed: 1 });
        expect(await store.getCheckpoint('orders-projector')).toBe('42');

        await store.write([], { 'orders-projector': '43' });
        expect(await store.getCheckpoint('orders-projector')).toBe('43');
      });

      it('leaves nothing behind, not even the checkpoint, when an op in the batch fails', async () => {
        const store = await fresh();
        const orders = await store.collection<Order>(ORDERS);
        await store.write([{ collection: 'orders', op: 'upsert', doc: { id: 'kept', status: 'placed', customerId: 'c1', total: 1 } }], { p: '1' });

        const good = [
          { collection: 'orders', op: 'upsert' as const, doc: { id: 'new', status: 'placed', customerId: 'c9', total: 2 } },
          { collection: 'orders', op: 'delete' as const, id: 'kept' },
        ];
        await expect(
          store.write([...good, { collection: 'orders', op: 'upsert', doc: { status: 'no id' } as unknown as Order }], { p: '2' }),
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(store.write([...good, { collection: 'nowhere', op: 'delete', id: 'x' }], { p: '2' })).rejects.toBeInstanceOf(NotFoundError);

        expect(ids((await orders.find()).items)).toEqual(['kept']);
        expect(await store.getCheckpoint('p')).toBe('1');
      });
    });

    describe('find', () => {
      const cases: [string, Filter, string[]][] = [
        ['equality on a string', { status: 'placed' }, ['o1', 'o3']],
        ['equality on a number', { total: 25.5 }, ['o2']],
        ['equality on a boolean', { express: true }, ['o1', 'o5']],
        ['equality on null matches null and missing', { createdAt: null }, ['o4', 'o6']],
        ['equality on a dotted field', { 'payment.state': 'captured' }, ['o2', 'o5']],
        ['equality on id', { id: 'o3' }, ['o3']],
        ['$in', { customerId: { $in: ['c2', 'c3'] } }, ['o3', 'o4', 'o5']],
        ['$in on id', { id: { $in: ['o6', 'o1', 'nope'] } }, ['o1', 'o6']],
        ['empty $in matches nothing', { customerId: { $in: [] } }, []],
        ['$gt', { total: { $gt: 25.5 } }, ['o3', 'o5']],
        ['$gte', { total: { $gte: 25.5 } }, ['o2', 'o3', 'o5']],
        ['$lt', { total: { $lt: 5 } }, ['o6']],
        ['$lte', { total: { $lte: 5 } }, ['o4', 'o6']],
        ['a closed range', { total: { $gt: 0, $lte: 25.5 } }, ['o1', 'o2', 'o4']],
        ['a range on strings', { createdAt: { $gte: '2026-01-02', $lt: '2026-01-03' } }, ['o2', 'o3']],
        ['several fields', { customerId: 'c1', status: { $in: ['placed', 'cancelled'] }, total: { $gte: 0 } }, ['o1', 'o6']],
      ];
      it.each(cases)('filters by %s', async (_label, filter, expected) => {
        const { orders } = await withOrders();
        expect(ids((await orders.find({ filter })).items)).toEqual(expected);
        expect(await orders.count(filter)).toBe(expected.length);
      });

      it('sorts ascending and descending with ties broken by id, nulls first ascending', async () => {
        const { orders } = await withOrders();
        const by = async (field: string, direction: 'asc' | 'desc') => ids((await orders.find({ sort: { field, direction } })).items);
        expect(await by('createdAt', 'asc')).toEqual(['o4', 'o6', 'o1', 'o2', 'o3', 'o5']);
        expect(await by('createdAt', 'desc')).toEqual(['o5', 'o3', 'o2', 'o1', 'o6', 'o4']);
        expect(await by('status', 'asc')).toEqual(['o6', 'o2', 'o5', 'o1', 'o3', 'o4']);
        expect(await by('status', 'desc')).toEqual(['o4', 'o3', 'o1', 'o5', 'o2', 'o6']);
        expect(await by('total', 'desc')).toEqual(['o5', 'o3', 'o2', 'o1', 'o4', 'o6']);
        expect(await by('id', 'desc')).toEqual(['o6', 'o5', 'o4', 'o3', 'o2', 'o1']);
        expect(ids((await orders.find()).items)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'o6']);
        expect(ids((await orders.find({ filter: { customerId: 'c1' }, sort: { field: 'createdAt', direction: 'desc' } })).items)).toEqual([
          'o2',
          'o1',
          'o6',
        ]);
      });

      it('pages through every document exactly once, in order, even when sort values repeat', async () => {
        const store = await fresh();
        const orders = await store.collection<Order>(ORDERS);
        // 57 orders over 4 days (plenty of ties) and every 7th without a date.
        const all: Order[] = Array.from({ length: 57 }, (_, i) => ({
          id: `p${String(i).padStart(2, '0')}`,
          status: i % 3 === 0 ? 'placed' : 'confirmed',
          customerId: `c${i % 4}`,
          total: i % 5,
          ...(i % 7 === 0 ? {} : { createdAt: `2026-02-0${(i % 4) + 1}` }),
        }));
        await store.write(all.map((doc) => ({ collection: 'orders', op: 'upsert', doc })));

        // Missing dates sort before any date; ties are broken by id, in the same direction.
        const sortedBy = (docs: Order[], direction: 'asc' | 'desc') => {
          const key = (d: Order): [string, string] => [d.createdAt ?? '', d.id];
          const ascending = [...docs].sort((a, b) => {
            const [ka, kb] = [key(a), key(b)];
            return ka[0] === kb[0] ? (ka[1] < kb[1] ? -1 : 1) : ka[0] < kb[0] ? -1 : 1;
          });
          return (direction === 'asc' ? ascending : ascending.reverse()).map((d) => d.id);
        };

        for (const direction of ['asc', 'desc'] as const) {
          for (const limit of [1, 5, 19, 57, 100]) {
            const walked = await walk(orders, { sort: { field: 'createdAt', direction }, limit });
            expect(walked.ids).toEqual(sortedBy(all, direction));
            expect(walked.pages).toBe(Math.max(1, Math.ceil(57 / limit)));
          }
          const placed = all.filter((d) => d.status === 'placed');
          const walked = await walk(orders, { filter: { status: 'placed' }, sort: { field: 'createdAt', direction }, limit: 4 });
          expect(walked.ids).toEqual(sortedBy(placed, direction));
        }
        const byTotal = await walk(orders, { filter: { total: { $in: [1, 3] } }, sort: { field: 'total', direction: 'asc' }, limit: 3 });
        expect(byTotal.ids).toEqual([
          ...all.filter((d) => d.total === 1).map((d) => d.id),
          ...all.filter((d) => d.total === 3).map((d) => d.id),
        ]);
        const byId = await walk(orders, { sort: { field: 'id', direction: 'desc' }, limit: 10 });
        expect(byId.ids).toEqual(all.map((d) => d.id).reverse());
      });

      it('returns no cursor on the last page and rejects a cursor that is not one of this query', async () => {
        const { orders } = await withOrders();
        const first = await orders.find({ sort: { field: 'total', direction: 'asc' }, limit: 6 });
        expect(first.nextCursor).toBeNull();
        const page = await orders.find({ sort: { field: 'total', direction: 'asc' }, limit: 2 });
        expect(ids(page.items)).toEqual(['o6', 'o4']);
        const cursor = page.nextCursor ?? '';
        expect(ids((await orders.find({ sort: { field: 'total', direction: 'asc' }, limit: 2, cursor })).items)).toEqual(['o1', 'o2']);
        await expect(orders.find({ sort: { field: 'total', direction: 'desc' }, limit: 2, cursor })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.find({ sort: { field: 'status', direction: 'asc' }, cursor })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.find({ cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.find({ cursor: Buffer.from('{"$gt":""}').toString('base64url') })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.find({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.find({ limit: 1.5 })).rejects.toBeInstanceOf(ValidationError);
      });

      it('counts all documents and filtered ones', async () => {
        const { orders } = await withOrders();
        expect(await orders.count()).toBe(6);
        expect(await orders.count({ status: 'confirmed' })).toBe(2);
        expect(await orders.count({ status: 'shipped' })).toBe(0);
      });
    });

    describe('refusals', () => {
      it('refuses to filter, sort or count on a field that is not declared', async () => {
        const { orders } = await withOrders();
        await expect(orders.find({ filter: { note: 'x' } })).rejects.toBeInstanceOf(UnindexedFieldError);
        await expect(orders.find({ sort: { field: 'note', direction: 'asc' } })).rejects.toBeInstanceOf(UnindexedFieldError);
        await expect(orders.count({ 'payment.provider': 'x' })).rejects.toBeInstanceOf(UnindexedFieldError);
        await expect(orders.find({ filter: { note: 'x' } })).rejects.toMatchObject({ collection: 'orders', field: 'note' });
      });

      const injections: [string, unknown][] = [
        ['an operator object not in the list ($ne)', { customerId: { $ne: null } }],
        ['$regex', { customerId: { $regex: '.*' } }],
        ['$where', { customerId: { $where: 'true' } }],
        ['$exists', { customerId: { $exists: true } }],
        ['a nested operator as a range bound', { customerId: { $gt: { $ne: 1 } } }],
        ['a known and an unknown operator together', { customerId: { $gt: '', $where: '1' } }],
        ['$in mixed with a range', { total: { $in: [1], $gt: 0 } }],
        ['an object inside $in', { customerId: { $in: [{ $gt: '' }] } }],
        ['null inside $in', { customerId: { $in: [null] } }],
        ['$in with a string', { customerId: { $in: 'c1' } }],
        ['an array as an equality value', { customerId: ['c1', 'c2'] }],
        ['an empty object', { customerId: {} }],
        ['undefined', { customerId: undefined }],
        ['NaN', { total: Number.NaN }],
        ['Infinity as a bound', { total: { $lt: Number.POSITIVE_INFINITY } }],
        ['a Date object', { createdAt: new Date(0) }],
        ['a top-level $where', { $where: 'sleep(1000)' }],
        ['a top-level $or', { $or: [{ customerId: 'c1' }, { customerId: 'c2' }] }],
        ['a field name with a quote', { "status') OR 1=1 --": 'x' }],
      ];
      it.each(injections)('rejects %s in a filter', async (_label, filter) => {
        const { orders } = await withOrders();
        await expect(orders.find({ filter: filter as Filter })).rejects.toBeInstanceOf(ValidationError);
        await expect(orders.count(filter as Filter)).rejects.toBeInstanceOf(ValidationError);
      });

      it('refuses collection and field names that are not plain identifiers', async () => {
        const store = await fresh();
        for (const bad of ['orders; DROP TABLE x', 'a"b', '', 'system.views', 'sqlite_master', '_checkpoints', 'a.b', '$cmd']) {
          await expect(store.collection({ name: bad, indexes: [] })).rejects.toBeInstanceOf(ValidationError);
        }
        for (const bad of ["a')--", '$where', 'a..b', '_id', 'a b']) {
          await expect(store.collection({ name: 'things', indexes: [bad] })).rejects.toBeInstanceOf(ValidationError);
        }
        await expect(store.collection({ name: 'things', indexes: ['a'], compound: [['a', 'b']] })).rejects.toBeInstanceOf(UnindexedFieldError);
      });
    });

    describe('collections', () => {
      it('lists, drops and swaps collections; the swapped-in copy keeps its indexes', async () => {
        const { store, orders } = await withOrders();
        const shadow = await store.collection<Order>({ ...ORDERS, name: 'orders_next' });
        await shadow.upsert({ id: 'n1', status: 'placed', customerId: 'c7', total: 7, createdAt: '2026-03-01' });
        await shadow.upsert({ id: 'n2', status: 'confirmed', customerId: 'c7', total: 8, createdAt: '2026-03-02' });
        expect(await store.listCollections()).toEqual(['orders', 'orders_next']);

        await store.swapCollection('orders_next', 'orders');
        expect(await store.listCollections()).toEqual(['orders']);
        // The handle the read side already holds now reads the new copy.
        expect(ids((await orders.find({ filter: { customerId: 'c7' }, sort: { field: 'createdAt', direction: 'desc' } })).items)).toEqual([
          'n2',
          'n1',
        ]);
        expect(await orders.get('o1')).toBeNull();
        await store.write([{ collection: 'orders', op: 'upsert', doc: { id: 'n3', status: 'placed', customerId: 'c7', total: 9 } }]);
        expect(await orders.count({ customerId: 'c7' })).toBe(3);

        // A second rebuild under the same shadow name works, and its indexes are its own.
        const again = await store.collection<Order>({ ...ORDERS, name: 'orders_next' });
        await again.upsert({ id: 'z1', status: 'placed', customerId: 'c8', total: 1, createdAt: '2026-04-01' });
        expect(await again.count({ customerId: 'c8' })).toBe(1);
        await store.swapCollection('orders_next', 'orders');
        const reopened = await store.collection<Order>(ORDERS);
        expect(await reopened.find({ filter: { status: 'placed' }, sort: { field: 'createdAt', direction: 'asc' } })).toEqual({
          items: [{ id: 'z1', status: 'placed', customerId: 'c8', total: 1, createdAt: '2026-04-01' }],
          nextCursor: null,
        });

        await expect(store.swapCollection('missing', 'orders')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.swapCollection('orders', 'orders')).rejects.toBeInstanceOf(ValidationError);
        await store.dropCollection('orders');
        await store.dropCollection('orders'); // dropping what is gone is not an error
        expect(await store.listCollections()).toEqual([]);
      });

      it('swaps atomically: a reader sees the old or the new copy, never an empty one', async () => {
        const { store, orders } = await withOrders();
        const sizes = new Set<number>();
        let swapping = true;
        const reader = (async () => {
          while (swapping) {
            sizes.add(await orders.count());
            sizes.add((await orders.find({ filter: { status: { $in: ['placed', 'confirmed', 'rejected', 'cancelled'] } } })).items.length);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        for (let round = 0; round < 20; round++) {
          const size = round % 2 === 0 ? 3 : 6;
          const shadow = await store.collection<Order>({ ...ORDERS, name: 'orders_next' });
          await store.write(FIXTURE.slice(0, size).map((doc) => ({ collection: 'orders_next', op: 'upsert', doc })));
          await store.swapCollection('orders_next', 'orders');
          // The shadow's handle is stale now, not a way to recreate it by accident.
          await expect(shadow.count()).rejects.toBeInstanceOf(NotFoundError);
          await new Promise((resolve) => setImmediate(resolve));
        }
        swapping = false;
        await reader;
        expect([...sizes].sort()).toEqual([3, 6]);
      });
    });
  });
}
