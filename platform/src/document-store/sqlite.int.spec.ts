import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { documentStoreContract } from './contract';
import type { Document, FindOptions } from './port';
import { openSqliteDocumentStore } from './sqlite';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docstore-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const places = new Map<string, string>();
documentStoreContract('sqlite', (place) => {
  if (place && !places.has(place)) places.set(place, tempDir());
  return openSqliteDocumentStore({ dataDir: place ? places.get(place)! : tempDir() });
});

describe('SQLite document store', () => {
  const ORDERS = {
    name: 'orders',
    indexes: ['status', 'customerId', 'createdAt', 'total'],
    compound: [['status', 'createdAt'], ['customerId', 'createdAt']],
  };
  const seed = (n: number): Document[] =>
    Array.from({ length: n }, (_, i) => ({
      id: `o${String(i).padStart(4, '0')}`,
      status: ['placed', 'confirmed', 'rejected'][i % 3],
      customerId: `c${i % 17}`,
      total: i % 50,
      ...(i % 11 === 0 ? {} : { createdAt: new Date(Date.UTC(2026, 0, 1) + (i % 97) * 60_000).toISOString() }),
    }));

  it('keeps documents, indexes and checkpoints across a reopen', async () => {
    const dataDir = tempDir();
    const first = await openSqliteDocumentStore({ dataDir });
    await first.collection(ORDERS);
    await first.write(seed(30).map((doc) => ({ collection: 'orders', op: 'put' as const, doc, expectedVersion: 0 })), { orders: '30' });
    const planBefore = first.explainFind('orders', { filter: { status: 'placed' }, sort: { field: 'createdAt', direction: 'desc' } });
    await first.close();

    const second = await openSqliteDocumentStore({ dataDir });
    const orders = await second.collection(ORDERS);
    expect(await second.getCheckpoint('orders')).toBe('30');
    expect(await orders.get('o0004')).toEqual(seed(30)[4]);
    expect(await orders.count({ status: 'placed' })).toBe(10);
    // Reopening found the indexes it had built instead of building a second set.
    expect(second.explainFind('orders', { filter: { status: 'placed' }, sort: { field: 'createdAt', direction: 'desc' } })).toEqual(planBefore);
    expect(await second.listCollections()).toEqual(['orders']);
    await second.close();
  });

  describe('never a full scan', () => {
    const shapes: [string, FindOptions, { ordered: boolean }][] = [
      ['equality', { filter: { status: 'placed' } }, { ordered: false }],
      ['equality sorted by its compound partner', { filter: { status: 'placed' }, sort: { field: 'createdAt', direction: 'desc' } }, { ordered: true }],
      ['two equalities sorted', { filter: { status: 'placed', customerId: 'c3' }, sort: { field: 'createdAt', direction: 'desc' } }, { ordered: true }],
      ['$in', { filter: { customerId: { $in: ['c1', 'c2'] } } }, { ordered: false }],
      ['$in sorted', { filter: { status: { $in: ['placed', 'rejected'] } }, sort: { field: 'createdAt', direction: 'asc' } }, { ordered: false }],
      ['range sorted by itself', { filter: { total: { $gte: 10, $lt: 20 } }, sort: { field: 'total', direction: 'asc' } }, { ordered: true }],
      ['range on the compound second field', { filter: { status: 'placed', createdAt: { $gte: '2026-01-01T00:30' } }, sort: { field: 'createdAt', direction: 'desc' } }, { ordered: true }],
      ['equality sorted by a field without a compound', { filter: { total: 7 }, sort: { field: 'createdAt', direction: 'asc' } }, { ordered: false }],
      ['no filter, sorted by a field', { sort: { field: 'createdAt', direction: 'desc' } }, { ordered: true }],
      ['id range', { filter: { id: { $gt: 'o0100' } } }, { ordered: true }],
    ];

    it.each(shapes)('%s: every page, first and following, searches an index', async (_label, options, { ordered }) => {
      const store = await openSqliteDocumentStore({ dataDir: tempDir() });
      const orders = await store.collection(ORDERS);
      await store.write(seed(300).map((doc) => ({ collection: 'orders', op: 'put' as const, doc, expectedVersion: 0 })));
      const pages: FindOptions[] = [{ ...options, limit: 7 }];
      let cursor = (await orders.find({ ...options, limit: 7 })).nextCursor;
      // Follow pages until the cursor has been in both segments (dated and undated documents).
      for (let i = 0; cursor && i < 60; i++) {
        pages.push({ ...options, limit: 7, cursor });
        cursor = (await orders.find({ ...options, limit: 7, cursor })).nextCursor;
      }
      for (const page of pages) {
        const plan = store.explainFind('orders', page);
        expect(plan.filter((line) => line.startsWith('SEARCH orders USING')).length).toBeGreaterThan(0);
        expect(plan.filter((line) => /^SCAN orders\b/.test(line))).toEqual([]);
        if (ordered) expect(plan.filter((line) => line.includes('TEMP B-TREE'))).toEqual([]);
      }
      expect(store.explainCount('orders', options.filter).every((line) => !/^SCAN orders$/.test(line))).toBe(true);
      await store.close();
    });

    it('reads an unfiltered id page and count off an index, in order', async () => {
      const store = await openSqliteDocumentStore({ dataDir: tempDir() });
      await store.collection(ORDERS);
      expect(store.explainFind('orders', {})).toEqual(['SCAN orders USING INDEX sqlite_autoindex_orders_1']);
      expect(store.explainCount('orders')).toEqual([expect.stringMatching(/^SCAN orders USING COVERING INDEX /)]);
      await store.close();
    });
  });

  it('swaps atomically for a reader on another connection', async () => {
    const dataDir = tempDir();
    const store = await openSqliteDocumentStore({ dataDir });
    await store.collection(ORDERS);
    await store.write(seed(6).map((doc) => ({ collection: 'orders', op: 'put' as const, doc, expectedVersion: 0 })));

    // A reader in another thread, on its own connection, counts as fast as it can.
    const reader = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const Database = require(workerData.driver);
       const db = new Database(workerData.file, { readonly: true });
       db.pragma('busy_timeout = 5000');
       const seen = {}; const errors = []; let reads = 0;
       parentPort.postMessage({ started: true });
       const until = Date.now() + workerData.ms;
       while (Date.now() < until) {
         try { const n = db.prepare('SELECT count(*) AS n FROM orders').get().n; seen[n] = (seen[n] || 0) + 1; reads++; }
         catch (e) { errors.push(String(e && e.message)); }
       }
       parentPort.postMessage({ seen, errors: errors.slice(0, 5), reads });`,
      { eval: true, workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file: path.join(dataDir, 'readmodels.sqlite'), ms: 1500 } },
    );
    const result = new Promise<{ seen: Record<string, number>; errors: string[]; reads: number }>((resolve, reject) => {
      reader.on('message', (m: { started?: boolean; seen: Record<string, number>; errors: string[]; reads: number }) => {
        if (!m.started) resolve(m);
      });
      reader.on('error', reject);
    });
    await new Promise((resolve) => reader.once('message', resolve));
    let done = false;
    void result.then(() => (done = true));
    let swaps = 0;
    while (!done) {
      await store.collection({ ...ORDERS, name: 'orders_next' });
      await store.write(seed(swaps % 2 === 0 ? 3 : 6).map((doc) => ({ collection: 'orders_next', op: 'put' as const, doc, expectedVersion: 0 })));
      await store.swapCollection('orders_next', 'orders');
      swaps++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const { seen, errors, reads } = await result;
    await reader.terminate();
    await store.close();
    expect(errors).toEqual([]);
    expect(swaps).toBeGreaterThan(10);
    expect(reads).toBeGreaterThan(100);
    expect(Object.keys(seen).sort()).toEqual(['3', '6']);
  });

  describe('field columns filled by the writes', () => {
    const put = (doc: Document, expectedVersion: number) => ({ collection: 'orders', op: 'put' as const, doc, expectedVersion });
    const ids = async (store: Awaited<ReturnType<typeof openSqliteDocumentStore>>, options: FindOptions) => {
      const coll = await store.collection(ORDERS);
      return (await coll.find(options)).items.map((d) => d.id);
    };

    it('moves a document in the indexes when an update changes an indexed field, and keeps it when another field changes', async () => {
      const store = await openSqliteDocumentStore({ dataDir: tempDir() });
      await store.collection(ORDERS);
      await store.write([put({ id: 'a', status: 'placed', customerId: 'c1', total: 5, note: 'x' }, 0), put({ id: 'b', status: 'placed', customerId: 'c2', total: 7 }, 0)]);
      // Only `note` moves: every index still finds it where it was.
      await store.write([put({ id: 'a', status: 'placed', customerId: 'c1', total: 5, note: 'y' }, 1)]);
      expect(await ids(store, { filter: { status: 'placed' } })).toEqual(['a', 'b']);
      expect(await ids(store, { filter: { customerId: 'c1' } })).toEqual(['a']);
      // The status moves, a field disappears, a boolean and a fraction are set: the queries follow.
      await store.write([put({ id: 'a', status: 'confirmed', total: 5.5, createdAt: true }, 2), put({ id: 'b', status: 'placed', customerId: 'c2', total: 9 }, 1)]);
      expect(await ids(store, { filter: { status: 'placed' } })).toEqual(['b']);
      expect(await ids(store, { filter: { status: 'confirmed' } })).toEqual(['a']);
      expect(await ids(store, { filter: { customerId: 'c1' } })).toEqual([]);
      expect(await ids(store, { filter: { customerId: null } })).toEqual(['a']);
      expect(await ids(store, { filter: { total: { $gt: 5, $lt: 6 } } })).toEqual(['a']);
      expect(await ids(store, { filter: { total: 9 } })).toEqual(['b']);
      expect(await ids(store, { filter: { createdAt: true } })).toEqual(['a']);
      // A stale version still conflicts and changes nothing.
      expect((await store.write([put({ id: 'a', status: 'rejected' }, 2)])).conflicts).toEqual([{ collection: 'orders', id: 'a' }]);
      expect(await ids(store, { filter: { status: 'rejected' } })).toEqual([]);
      await store.close();
    });

    it('copies a table of generated field columns (an older file) into plain ones, and keeps its indexes up to date', async () => {
      const dataDir = tempDir();
      const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
      const old = new Database(path.join(dataDir, 'readmodels.sqlite'));
      old.exec(
        `CREATE TABLE orders (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1, ` +
          `"@status" ANY AS (json_extract(doc, '$.status')) STORED, "@customerId" ANY AS (json_extract(doc, '$.customerId')) VIRTUAL) STRICT`,
      );
      old.exec(`CREATE INDEX "status@00000000" ON orders ("@status", id)`);
      const insert = old.prepare('INSERT INTO orders (id, doc, version) VALUES (?, ?, ?)');
      for (const doc of seed(12)) insert.run(doc.id, JSON.stringify(doc), 3);
      old.close();

      const store = await openSqliteDocumentStore({ dataDir });
      const orders = await store.collection(ORDERS);
      expect(await orders.count({ status: 'placed' })).toBe(4);
      expect(await orders.count({ customerId: 'c1' })).toBe(1);
      expect(await orders.count({ total: 3 })).toBe(1);
      expect((await orders.getVersioned(['o0003']))[0]).toEqual({ doc: seed(12)[3], version: 3 });
      // o0004 was confirmed.
      await store.write([put({ ...seed(12)[4]!, status: 'placed' }, 3)]);
      expect(await orders.count({ status: 'placed' })).toBe(5);
      expect(store.explainFind('orders', { filter: { status: 'placed' } })).toEqual([expect.stringMatching(/^SEARCH orders USING (COVERING )?INDEX status@/)]);
      await store.close();
    });

    it('fills a field column another connection added after this one opened the collection', async () => {
      const dataDir = tempDir();
      const first = await openSqliteDocumentStore({ dataDir });
      await first.collection(ORDERS);
      const second = await openSqliteDocumentStore({ dataDir });
      const wider = await second.collection({ name: 'orders', indexes: [...ORDERS.indexes, 'region'] });
      await first.write([put({ id: 'a', status: 'placed', region: 'eu' }, 0)]);
      await first.write([put({ id: 'a', status: 'placed', region: 'us' }, 1)]);
      expect(await wider.count({ region: 'us' })).toBe(1);
      expect(await wider.count({ region: 'eu' })).toBe(0);
      await first.close();
      await second.close();
    });
  });
});
