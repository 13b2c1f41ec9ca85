import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { OrderId, Sku } from '@saga/event-schemas/ids';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { streamIdFor } from '@saga/event-schemas/streams';
import { ConflictError, NotFoundError } from '@saga/platform/errors';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { envelopeOf, fixedClock, tempDataDir } from '../shared/test-support';
import { createInventoryHandlers } from './handlers';
import { evolve, initialState, type InventoryEvent, type InventoryState } from './state';

const LAMP = 'LAMP-001' as Sku;
const MUG = 'MUG-001' as Sku;
const clock = fixedClock();
const open: EventStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function storeAt(dataDir: string) {
  const store = await openSqliteEventStore({ dataDir });
  open.push(store);
  return store;
}

/** The warehouse as a fresh reader folds it from the whole stream: no cache involved. */
async function folded(store: EventStore): Promise<{ state: InventoryState; events: RecordedEvent[] }> {
  const events = await store.readStream(streamIdFor.inventory());
  return { state: events.map((e) => e as unknown as InventoryEvent).reduce(evolve, initialState), events };
}

const stockOf = (state: InventoryState, sku: string) => (state.status === 'stocked' ? state.products.get(sku) : undefined);

describe('inventory handlers on the SQLite event store', () => {
  it('adds products idempotently, restocks, prices from its own state', async () => {
    const inventory = createInventoryHandlers({ store: await storeAt(tempDataDir('inv')), clock });
    expect(await inventory.addProduct({ sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 10 })).toEqual({ sku: MUG, created: true });
    expect(await inventory.addProduct({ sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 10 })).toEqual({ sku: MUG, created: false });
    await expect(inventory.addProduct({ sku: MUG, name: 'Cup', price: 1, currency: 'EUR', stock: 1 })).rejects.toBeInstanceOf(ConflictError);
    expect(await inventory.restock({ sku: MUG, quantity: 5, actor: { userId: 'admin-1', role: 'admin' } })).toEqual({ sku: MUG, available: 15 });
    await expect(inventory.restock({ sku: 'NOPE-1', quantity: 5 })).rejects.toBeInstanceOf(NotFoundError);
    expect(await inventory.priceLookup([MUG, 'NOPE-1'])).toEqual(new Map([[MUG, { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR' }]]));
  });

  it('prices a product it holds from memory, and catches up with the store for a sku it has not seen', async () => {
    const dataDir = tempDataDir('inv');
    const storeA = await storeAt(dataDir);
    let reads = 0;
    const counted: EventStore = { ...storeA, readStream: (id, o) => (reads++, storeA.readStream(id, o)) };
    const a = createInventoryHandlers({ store: counted, clock });
    const b = createInventoryHandlers({ store: await storeAt(dataDir), clock });
    await a.addProduct({ sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 10 });
    reads = 0;
    expect(await a.priceLookup([MUG])).toEqual(new Map([[MUG, { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR' }]]));
    expect(reads).toBe(0);
    // Added by another instance: a does not hold it, so it reads the stream and finds it.
    await b.addProduct({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', stock: 7 });
    expect((await a.priceLookup([MUG, LAMP])).get(LAMP)).toEqual({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR' });
    expect(reads).toBe(1);
    expect(await a.priceLookup(['NOPE-1'])).toEqual(new Map());
    expect(reads).toBe(2);
  });

  it('a redelivered saga command appends nothing, whichever instance gets it', async () => {
    const dataDir = tempDataDir('inv');
    const a = createInventoryHandlers({ store: await storeAt(dataDir), clock });
    const b = createInventoryHandlers({ store: await storeAt(dataDir), clock });
    await a.addProduct({ sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 10 });
    const reserve = envelopeOf('ReserveStock', { orderId: 'o-1' as OrderId, items: [{ sku: MUG, quantity: 3 }] });
    expect(await a.handleSagaCommand(reserve)).toMatchObject({ kind: 'appended' });
    expect(await a.handleSagaCommand(reserve)).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    expect(await b.handleSagaCommand(reserve)).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    const { events } = await folded(open[0]!);
    expect(events.map((e) => e.type)).toEqual(['ProductAdded', 'StockReserved']);
    expect(events[1]!.metadata).toMatchObject({ correlationId: 'o-1', causationId: reserve.commandId });
  });

  it('never oversells: 120 orders from two instances on one SQLite file race for the last 7 units', async () => {
    const dataDir = tempDataDir('inv');
    const storeA = await storeAt(dataDir);
    // A second connection and handler instance: another process as far as the cache and the store can tell.
    const storeB = await storeAt(dataDir);
    let conflicts = 0;
    const logger = (_level: string, message: string) => void (message.includes('conflict') && conflicts++);
    const a = createInventoryHandlers({ store: storeA, clock, logger });
    const b = createInventoryHandlers({ store: storeB, clock, logger });
    await a.addProduct({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', stock: 7 });
    await a.addProduct({ sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 1000 });
    // b learns about the products only by catching up on what a wrote.
    expect((await b.priceLookup([LAMP])).get(LAMP)?.price).toBe(3500);

    const orders = Array.from({ length: 120 }, (_, i) => ({
      orderId: `race-${i}` as OrderId,
      items: [
        { sku: MUG, quantity: 2 },
        { sku: LAMP, quantity: 1 + (i % 2) },
      ],
    }));
    const outcomes = await Promise.all(
      orders.map((data, i) => (i % 2 === 0 ? a : b).handleSagaCommand(envelopeOf('ReserveStock', data))),
    );
    expect(outcomes.every((o) => o.kind === 'appended')).toBe(true);
    // The two instances really did race: their appends collided and were decided again.
    expect(conflicts).toBeGreaterThan(0);

    const { state, events } = await folded(storeA);
    const reserved = events.filter((e) => e.type === 'StockReserved');
    const failed = events.filter((e) => e.type === 'StockReservationFailed');
    // Every order got exactly one answer, and no two answers for one order.
    expect(reserved.length + failed.length).toBe(120);
    expect(new Set([...reserved, ...failed].map((e) => (e.data as { orderId: string }).orderId)).size).toBe(120);
    const lampsReserved = reserved.reduce(
      (sum, e) => sum + (e.data as { items: { sku: string; quantity: number }[] }).items.filter((l) => l.sku === LAMP).reduce((s, l) => s + l.quantity, 0),
      0,
    );
    expect(lampsReserved).toBeLessThanOrEqual(7);
    // Greedy all-or-none: the race ends only when fewer lamps are left than the smallest order asks (1).
    expect(lampsReserved).toBe(7);
    expect(stockOf(state, LAMP)).toEqual({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', available: 0, reserved: 7, sold: 0 });
    // All-or-none: the mugs reserved are exactly those of the orders that got their lamps.
    expect(stockOf(state, MUG)).toMatchObject({ available: 1000 - 2 * reserved.length, reserved: 2 * reserved.length });
    // Both caches agree with a fresh fold of the stream.
    expect(await a.snapshot()).toEqual(state);
    expect(await b.snapshot()).toEqual(state);
  });

  it('keeps initial + restocked - sold = available + reserved under concurrent reserve, release, commit and restock', async () => {
    const dataDir = tempDataDir('inv');
    const a = createInventoryHandlers({ store: await storeAt(dataDir), clock });
    const b = createInventoryHandlers({ store: await storeAt(dataDir), clock });
    await a.addProduct({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', stock: 20 });
    const reserve = (i: number) => envelopeOf('ReserveStock', { orderId: `o-${i}` as OrderId, items: [{ sku: LAMP, quantity: 1 + (i % 3) }] });
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).handleSagaCommand(reserve(i))));
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const handler = i % 3 ? a : b;
      const orderId = `o-${i}` as OrderId;
      if (i % 4 === 0) work.push(handler.handleSagaCommand(envelopeOf('ReleaseStock', { orderId })));
      else if (i % 4 === 1) work.push(handler.handleSagaCommand(envelopeOf('CommitStock', { orderId })));
      else if (i % 4 === 2) work.push(handler.handleSagaCommand(envelopeOf('ReleaseStock', { orderId })), handler.handleSagaCommand(envelopeOf('ReleaseStock', { orderId }, `again-${i}`)));
      if (i % 10 === 0) work.push((i % 20 ? a : b).restock({ sku: LAMP, quantity: 2 }));
      work.push(handler.handleSagaCommand(reserve(100 + i)));
    }
    await Promise.all(work);

    const { state, events } = await folded(open[0]!);
    const lamp = stockOf(state, LAMP)!;
    const restocked = events.filter((e) => e.type === 'ProductRestocked').reduce((s, e) => s + (e.data as { quantity: number }).quantity, 0);
    expect(restocked).toBe(8);
    expect(20 + restocked - lamp.sold).toBe(lamp.available + lamp.reserved);
    expect(lamp.available).toBeGreaterThanOrEqual(0);
    expect(lamp.reserved).toBeGreaterThanOrEqual(0);
    // A release gives back what the order held, once: never more releases than reservations per order.
    const releasedOrders = events.filter((e) => e.type === 'StockReleased').map((e) => (e.data as { orderId: string }).orderId);
    expect(new Set(releasedOrders).size).toBe(releasedOrders.length);
    expect(await b.snapshot()).toEqual(state);
  });

  it('never oversells when a second OS process reserves from the same SQLite file (120 orders, 100 units)', async () => {
    const dataDir = tempDataDir('inv');
    const store = await storeAt(dataDir);
    const here = createInventoryHandlers({ store, clock });
    await here.addProduct({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', stock: 100 });
    const script = fileURLToPath(new URL('./reserve-race.process.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir, '1000', '60'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const saw = (line: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (lines.includes(line) ? resolve() : undefined);
        child.stdout!.on('data', (chunk: Buffer) => {
          lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          check();
        });
        child.once('exit', (code) => (lines.includes(line) ? resolve() : reject(new Error(`child exited ${code} before '${line}'`))));
        check();
      });
    await saw('ready');
    // Both processes send reservation i at start + 2i ms, so their writes interleave for a while.
    const startAt = Date.now() + 100;
    child.stdin!.write(`${startAt}\n`);
    await Promise.all([
      saw('done'),
      ...Array.from({ length: 60 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, startAt + 2 * i - Date.now()));
        return here.handleSagaCommand(envelopeOf('ReserveStock', { orderId: `race-${i}` as OrderId, items: [{ sku: LAMP, quantity: 1 }] }));
      }),
    ]);

    const { state, events } = await folded(store);
    const reserved = events.filter((e) => e.type === 'StockReserved');
    expect(reserved.length + events.filter((e) => e.type === 'StockReservationFailed').length).toBe(120);
    expect(reserved).toHaveLength(100);
    expect(stockOf(state, LAMP)).toEqual({ sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', available: 0, reserved: 100, sold: 0 });
    // Both processes won some: they really raced.
    const byChild = reserved.filter((e) => Number((e.data as { orderId: string }).orderId.slice('race-'.length)) >= 1000).length;
    expect(byChild).toBeGreaterThan(0);
    expect(byChild).toBeLessThan(100);
  });
});
