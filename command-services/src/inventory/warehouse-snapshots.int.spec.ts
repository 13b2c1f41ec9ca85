import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { OrderId, Sku } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore, ReadStreamOptions } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { realSleep, silentLogger } from '../shared/runtime';
import { envelopeOf, fixedClock, tempDataDir } from '../shared/test-support';
import { createInventoryHandlers, type InventoryHandlers } from './handlers';
import { openWarehouseSnapshots } from './warehouse-snapshots';
import { openWarehouseStream } from './warehouse-stream';

const MUG = 'MUG-001' as Sku;
const LAMP = 'LAMP-001' as Sku;
const clock = fixedClock();
const closing: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((c) => c.close()));
});

async function open(dataDir: string) {
  const store = await openSqliteEventStore({ dataDir });
  const docs = await openSqliteDocumentStore({ dataDir });
  closing.push(store, docs);
  return { store, docs };
}

/** Counts the warehouse events a handler reads back from the store. */
function counting(store: EventStore) {
  const reads: number[] = [];
  const spied: EventStore = Object.create(store) as EventStore;
  spied.readStream = async (streamId: string, options?: ReadStreamOptions) => {
    const events = await store.readStream(streamId, options);
    if (streamId === streamIdFor.inventory()) reads.push(events.length);
    return events;
  };
  return { store: spied, reads };
}

const reserve = (k: number) => envelopeOf('ReserveStock', { orderId: `o-${k}` as OrderId, items: [{ sku: MUG, quantity: 1 }] });
const commit = (k: number) => envelopeOf('CommitStock', { orderId: `o-${k}` as OrderId });
const release = (k: number) => envelopeOf('ReleaseStock', { orderId: `o-${k}` as OrderId });

/** A warehouse with history: 2 products, 300 orders reserved, 150 committed, 75 released, 75 held. */
async function withHistory(inventory: InventoryHandlers) {
  await inventory.addProduct({ sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 1000 });
  await inventory.addProduct({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', stock: 3 });
  await Promise.all(Array.from({ length: 300 }, (_, k) => inventory.handleSagaCommand(reserve(k))));
  await Promise.all(Array.from({ length: 150 }, (_, k) => inventory.handleSagaCommand(commit(k))));
  await Promise.all(Array.from({ length: 75 }, (_, k) => inventory.handleSagaCommand(release(150 + k))));
}

async function savedRevision(docs: DocumentStore, atLeast: number): Promise<number> {
  const heads = await docs.collection<{ id: string; revision: number }>({ name: 'snapshot_heads', indexes: [] });
  for (let i = 0; i < 200; i++) {
    const head = await heads.get('inventory-warehouse');
    if (head && head.revision >= atLeast) return head.revision;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no snapshot was saved');
}

describe('warehouse snapshots', () => {
  it('a start reads only the events after the snapshot, and decides exactly as a full fold does', async () => {
    const dataDir = tempDataDir('snap');
    const first = await open(dataDir);
    const snapshots = openWarehouseSnapshots(first.docs, silentLogger, { idsPerChunk: 64 });
    const writer = createInventoryHandlers({ store: first.store, clock, snapshots, snapshotEvery: 100 });
    await withHistory(writer);
    const revision = await savedRevision(first.docs, 400);
    const streamRevision = await first.store.streamRevision(streamIdFor.inventory());

    // A second process, with the snapshot: it reads only the tail of the stream.
    const second = await open(dataDir);
    const withSnapshot = counting(second.store);
    const restarted = createInventoryHandlers({ store: withSnapshot.store, clock, snapshots: openWarehouseSnapshots(second.docs, silentLogger, { idsPerChunk: 64 }) });
    // ...and a third without, folding all of it.
    const full = counting(second.store);
    const folding = createInventoryHandlers({ store: full.store, clock });
    expect(await restarted.snapshot()).toEqual(await folding.snapshot());
    expect(withSnapshot.reads).toEqual([streamRevision - revision]);
    expect(full.reads).toEqual([streamRevision + 1]);

    // Commands handled before the snapshot (in its chunked ids) stay handled: nothing is applied twice.
    for (const command of [reserve(3), commit(7), release(160), reserve(299)]) {
      expect(await restarted.handleSagaCommand(command)).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    }
    expect(await restarted.handleSagaCommand(commit(250))).toMatchObject({ kind: 'appended' });
    expect(await folding.handleSagaCommand(commit(250))).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    expect(await restarted.snapshot()).toEqual(await folding.snapshot());
  });

  it('keeps writing only the state and the last chunk, and a later start still adds up', async () => {
    const dataDir = tempDataDir('snap');
    const { store, docs } = await open(dataDir);
    const writer = createInventoryHandlers({ store, clock, snapshots: openWarehouseSnapshots(docs, silentLogger, { idsPerChunk: 50 }), snapshotEvery: 60 });
    await withHistory(writer);
    await savedRevision(docs, 526 - 60);
    await Promise.all(Array.from({ length: 75 }, (_, k) => writer.handleSagaCommand(commit(225 + k))));
    await savedRevision(docs, 601 - 60);
    const parts = await docs.collection<{ id: string }>({ name: 'snapshot_parts', indexes: [] });
    const heads = await docs.collection<{ id: string; parts: string[]; handled: number }>({ name: 'snapshot_heads', indexes: [] });
    const head = (await heads.get('inventory-warehouse'))!;
    // Superseded parts are removed: what is stored is what the head lists.
    expect((await parts.find({ limit: 1000 })).items.map((p) => p.id).sort()).toEqual([...head.parts].sort());
    expect(head.parts.length).toBe(1 + Math.ceil(head.handled / 50));

    const again = await open(dataDir);
    const restarted = createInventoryHandlers({ store: again.store, clock, snapshots: openWarehouseSnapshots(again.docs, silentLogger, { idsPerChunk: 50 }) });
    const folding = createInventoryHandlers({ store: again.store, clock });
    expect(await restarted.snapshot()).toEqual(await folding.snapshot());
    expect(await restarted.handleSagaCommand(commit(299))).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
  });

  it('ignores a snapshot with a missing part, or one ahead of its stream, and folds the events instead', async () => {
    const dataDir = tempDataDir('snap');
    const { store, docs } = await open(dataDir);
    const writer = createInventoryHandlers({ store, clock, snapshots: openWarehouseSnapshots(docs, silentLogger, { idsPerChunk: 64 }), snapshotEvery: 100 });
    await withHistory(writer);
    await savedRevision(docs, 400);
    const expected = await createInventoryHandlers({ store, clock }).snapshot();

    // The read models kept, the event store started anew: the snapshot describes another stream.
    const fresh = await openSqliteEventStore({ dataDir: tempDataDir('snap-fresh') });
    closing.push(fresh);
    const other = createInventoryHandlers({ store: fresh, clock, snapshots: openWarehouseSnapshots(docs, silentLogger) });
    expect(await other.snapshot()).toEqual({ status: 'empty' });

    // One part lost.
    const parts = await docs.collection<{ id: string }>({ name: 'snapshot_parts', indexes: [] });
    const [victim] = await parts.getVersioned([(await parts.find({ limit: 1 })).items[0]!.id]);
    await docs.write([{ collection: 'snapshot_parts', op: 'delete', id: victim!.doc.id, expectedVersion: victim!.version }]);
    const full = counting(store);
    const afterLoss = createInventoryHandlers({ store: full.store, clock, snapshots: openWarehouseSnapshots(docs, silentLogger) });
    expect(await afterLoss.snapshot()).toEqual(expected);
    expect(full.reads).toEqual([(await store.streamRevision(streamIdFor.inventory())) + 1]);

  });

  it('folds a long stream with no snapshot in pages, and timers run while it does', async () => {
    const dataDir = tempDataDir('snap-long');
    const { store } = await open(dataDir);
    const warehouse = streamIdFor.inventory();
    const meta = { correlationId: 'bulk', causationId: 'bulk' };
    await store.append(warehouse, [{ eventId: randomUUID(), type: 'ProductAdded', data: { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 1 }, metadata: meta }]);
    for (let batch = 0; batch < 12; batch++) {
      await store.append(warehouse, Array.from({ length: 5_000 }, () => ({ eventId: randomUUID(), type: 'ProductRestocked' as const, data: { sku: MUG, quantity: 1 }, metadata: meta })));
    }
    const spied = counting(store);
    const stream = openWarehouseStream({ store: spied.store, clock, logger: silentLogger, sleep: realSleep, maxAttempts: 3 });
    let fired = 0;
    let reading = true;
    const ticking = (async () => {
      while (reading) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        fired++;
      }
    })();
    const firedBefore = fired;
    const state = await stream.read();
    const firedDuring = fired - firedBefore;
    reading = false;
    await ticking;
    expect(state.status === 'stocked' && state.products.get(MUG)?.available).toBe(60_001);
    // Pages of 1,000 (the last one short), and a 1 ms timer fired between them.
    expect(spied.reads.slice(0, -1).every((n) => n === 1_000)).toBe(true);
    expect(spied.reads.reduce((a, b) => a + b, 0)).toBe(60_001);
    expect(firedDuring, `reads ${spied.reads.length}`).toBeGreaterThan(0);
  });
});

