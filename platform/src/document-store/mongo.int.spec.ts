import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { documentStoreContract } from './contract';
import { openMongoDocumentStore } from './mongo';

const url = process.env.MONGODB_URL;
const FERRETDB_CAS = 'FerretDB 1.24 does not isolate two concurrent conditional updates of one document (both of two racing {_id, __v} replaces succeed), so compare-and-set is not atomic there; real MongoDB proves it (GitHub workflow)';
if (!url) console.warn('mongo.int.spec: MONGODB_URL is not set (e.g. mongodb://127.0.0.1:27017/?directConnection=true, or `.ci/servers.sh start ferretdb`); skipping the MongoDB contract suite');

describe.skipIf(!url)(`MongoDB document store (${process.env.MONGODB_SERVER ?? 'mongodb'})`, () => {
  const dbNames = new Set<string>();
  const dbNameOf = (place?: string) => `docstore_test_${place ?? randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    if (!url) return;
    const client = await MongoClient.connect(url);
    await Promise.all([...dbNames].map((name) => client.db(name).dropDatabase()));
    await client.close();
  });
  documentStoreContract('mongo', (place) => {
    const dbName = dbNameOf(place);
    dbNames.add(dbName);
    return openMongoDocumentStore({ url: url ?? '', dbName });
  }, process.env.MONGODB_SERVER === 'ferretdb' ? { nonAtomicCompareAndSet: FERRETDB_CAS } : {});

  it.skipIf(process.env.MONGODB_SERVER !== 'ferretdb')('insert-if-absent is atomic even on FerretDB: one of two racing inserts of an id wins', async () => {
    const place = `ins${randomUUID().slice(0, 6)}`;
    dbNames.add(dbNameOf(place));
    const [one, two] = await Promise.all([0, 1].map(() => openMongoDocumentStore({ url: url ?? '', dbName: dbNameOf(place) })));
    const [a, b] = [await one!.collection({ name: 'users', indexes: [] }), await two!.collection({ name: 'users', indexes: [] })];
    for (let i = 0; i < 20; i++) {
      const results = await Promise.allSettled([a.insert({ id: `u${i}`, by: 1 }), b.insert({ id: `u${i}`, by: 2 })]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    }
    await Promise.all([one!.close(), two!.close()]);
  });

  it('replaces 150 documents in one batch, and the server still answers (FerretDB 1.24 hung for good on 100 replaces in one command)', async () => {
    const dbName = dbNameOf();
    dbNames.add(dbName);
    const store = await openMongoDocumentStore({ url: url ?? '', dbName });
    const docs = await store.collection<{ id: string; n: number }>({ name: 'many', indexes: [] });
    const ids = Array.from({ length: 150 }, (_, i) => `d${String(i).padStart(3, '0')}`);
    expect((await store.write(ids.map((id) => ({ collection: 'many', op: 'put', doc: { id, n: 0 }, expectedVersion: 0 })))).conflicts).toEqual([]);
    const replaced = await store.write(
      ids.map((id, i) => ({ collection: 'many', op: 'put', doc: { id, n: 1 }, expectedVersion: i % 50 === 7 ? 5 : 1 })),
      { many: 'checkpoint-1' },
    );
    // The three at a wrong version are conflicts (and the checkpoint waits for them); the rest are replaced.
    expect(replaced.conflicts.map((c) => c.id).sort()).toEqual(['d007', 'd057', 'd107']);
    expect((await docs.getVersioned(['d000', 'd007', 'd149'])).map((v) => [v.doc.n, v.version])).toEqual([[1, 2], [0, 1], [1, 2]]);
    expect(await store.getCheckpoint('many')).toBeUndefined();
    await store.close();
  }, 30_000);

  it('opens a collection whose index exists under another name (M5), and adopts a collection from before pointers', async () => {
    const dbName = dbNameOf();
    dbNames.add(dbName);
    const client = await MongoClient.connect(url ?? '');
    try {
      const legacy = client.db(dbName).collection<{ _id: string; status: string }>('orders');
      await legacy.insertOne({ _id: 'o1', status: 'placed' });
      await legacy.createIndex({ status: 1, _id: 1 }, { name: 'made_by_hand' });
      const store = await openMongoDocumentStore({ url: url ?? '', dbName });
      const orders = await store.collection({ name: 'orders', indexes: ['status', 'total'] });
      expect(await orders.find({ filter: { status: 'placed' } })).toEqual({ items: [{ id: 'o1', status: 'placed' }], nextCursor: null });
      expect(await orders.getVersioned(['o1'])).toEqual([{ doc: { id: 'o1', status: 'placed' }, version: 1 }]);
      const names = (await legacy.listIndexes().toArray()).map((i) => i.name).sort();
      expect(names).toEqual(['_id_', 'by:total', 'made_by_hand']);
      await store.close();
    } finally {
      await client.close();
    }
  });

  it('fails at open with the URL named when no server answers', async () => {
    await expect(openMongoDocumentStore({ url: 'mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=500', dbName: 'x' })).rejects.toThrow(
      /127\.0\.0\.1:1/,
    );
  });
});
