import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, describe } from 'vitest';
import { documentStoreContract } from './contract';
import { openMongoDocumentStore } from './mongo';

const url = process.env.MONGODB_URL;
if (!url) console.warn('mongo.int.spec: MONGODB_URL is not set (a replica set, e.g. mongodb://localhost:27017/?directConnection=true); skipping the MongoDB contract suite');

describe.skipIf(!url)('MongoDB document store', () => {
  const dbNames: string[] = [];
  afterAll(async () => {
    if (!url) return;
    const client = await MongoClient.connect(url);
    await Promise.all(dbNames.map((name) => client.db(name).dropDatabase()));
    await client.close();
  });
  documentStoreContract('mongo', () => {
    const dbName = `docstore_test_${randomUUID().slice(0, 8)}`;
    dbNames.push(dbName);
    return openMongoDocumentStore({ url: url ?? '', dbName });
  });
});
