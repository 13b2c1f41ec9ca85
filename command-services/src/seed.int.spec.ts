import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDocumentStore, type SqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { createInventoryHandlers } from './inventory/handlers';
import { seedDemo } from './seed';
import { createUserStore } from './users/user-store';

let dataDir: string;
let store: EventStore;
let docs: SqliteDocumentStore;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'seed-'));
  store = await openSqliteEventStore({ dataDir });
  docs = await openSqliteDocumentStore({ dataDir });
});
afterAll(async () => {
  await store?.close();
  await docs?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('seedDemo', () => {
  it('creates the demo users and catalog once; a second run (a restart) changes nothing', async () => {
    const deps = async () => ({
      users: await createUserStore(docs),
      inventory: createInventoryHandlers({ store, clock: () => new Date() }),
    });
    const first = await seedDemo(await deps());
    expect(first).toEqual({
      usersCreated: ['alice@example.com', 'admin@example.com'],
      productsAdded: ['MUG-001', 'TEE-001', 'STICKER-001', 'BOOK-001', 'HOODIE-001', 'LAMP-001'],
    });
    const { users } = await deps();
    expect(await users.authenticate('alice@example.com', 'alice-password')).toMatchObject({ email: 'alice@example.com', role: 'customer' });
    expect(await users.authenticate('admin@example.com', 'admin-password')).toMatchObject({ email: 'admin@example.com', role: 'admin' });

    const head = await store.headPosition();
    const second = await seedDemo(await deps());
    expect(second).toEqual({ usersCreated: [], productsAdded: [] });
    expect(await store.headPosition()).toBe(head);
    expect(await (await docs.collection({ name: 'users', indexes: ['email'] })).count()).toBe(2);
  });
});
