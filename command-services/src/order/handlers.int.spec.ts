import { afterEach, describe, expect, it } from 'vitest';
import type { OrderId, Sku } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import { ConflictError, ForbiddenError, IllegalStateError, NotFoundError, ValidationError } from '@saga/platform/errors';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { deterministicId } from '@saga/platform/ids';
import { createInventoryHandlers } from '../inventory/handlers';
import { envelopeOf, fixedClock, tempDataDir } from '../shared/test-support';
import { createOrderHandlers } from './handlers';

const clock = fixedClock('2026-11-22T10:00:00.000Z');
let store: EventStore;
afterEach(async () => store?.close());

async function setup() {
  store = await openSqliteEventStore({ dataDir: tempDataDir('orders') });
  const inventory = createInventoryHandlers({ store, clock });
  await inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1250, currency: 'EUR', stock: 10 });
  await inventory.addProduct({ sku: 'TEE-001', name: 'T-shirt', price: 2400, currency: 'EUR', stock: 10 });
  await inventory.addProduct({ sku: 'BAG-001', name: 'Bag', price: 900, currency: 'USD', stock: 10 });
  let ids = 0;
  const orders = createOrderHandlers({ store, clock, priceLookup: inventory.priceLookup, newId: () => `generated-${++ids}` });
  return { orders, inventory };
}

const alice = { id: 'alice', email: 'alice@example.com' };
const card = { token: 'tok_sim_approve_abc', last4: '4242' };
const items = [
  { sku: 'MUG-001' as Sku, quantity: 2 },
  { sku: 'TEE-001' as Sku, quantity: 1 },
];

describe('order handlers on the SQLite event store', () => {
  it('places an order priced from the inventory, never from the client', async () => {
    const { orders } = await setup();
    expect(await orders.placeOrder({ customer: alice, items, payment: card })).toEqual({ orderId: 'generated-1', created: true });
    const [placed] = await store.readStream(streamIdFor.order('generated-1'));
    expect(placed).toMatchObject({
      type: 'OrderPlaced',
      data: {
        orderId: 'generated-1',
        customerId: 'alice',
        customerEmail: 'alice@example.com',
        items: [
          { sku: 'MUG-001', name: 'Mug', quantity: 2, unitPrice: 1250 },
          { sku: 'TEE-001', name: 'T-shirt', quantity: 1, unitPrice: 2400 },
        ],
        total: 4900,
        currency: 'EUR',
        payment: { method: 'card', token: 'tok_sim_approve_abc', last4: '4242' },
        placedAt: '2026-11-22T10:00:00.000Z',
      },
      metadata: { correlationId: 'generated-1', userId: 'alice' },
    });
  });

  it('an Idempotency-Key makes a retried placement return the first order', async () => {
    const { orders } = await setup();
    const expectedId = deterministicId('order', 'alice', 'key-1');
    const first = await orders.placeOrder({ customer: alice, items, payment: card, idempotencyKey: 'key-1' });
    const again = await Promise.all([1, 2, 3].map(() => orders.placeOrder({ customer: alice, items, payment: { token: 'tok_sim_approve_new', last4: '4242' }, idempotencyKey: 'key-1' })));
    expect(first).toEqual({ orderId: expectedId, created: true });
    expect(again).toEqual([1, 2, 3].map(() => ({ orderId: expectedId, created: false })));
    expect(await store.readStream(streamIdFor.order(expectedId))).toHaveLength(1);
    // The same key from another customer is another order.
    const bob = await orders.placeOrder({ customer: { id: 'bob', email: 'bob@example.com' }, items, payment: card, idempotencyKey: 'key-1' });
    expect(bob).toEqual({ orderId: deterministicId('order', 'bob', 'key-1'), created: true });
  });

  it('concurrent placements under one client id: one order, the other content refused', async () => {
    const { orders } = await setup();
    const results = await Promise.allSettled([
      orders.placeOrder({ customer: alice, items, payment: card, orderId: 'race-1' }),
      orders.placeOrder({ customer: alice, items, payment: card, orderId: 'race-1' }),
      orders.placeOrder({ customer: alice, items: [items[0]!], payment: card, orderId: 'race-1' }),
    ]);
    const events = await store.readStream(streamIdFor.order('race-1'));
    expect(events).toHaveLength(1);
    // Whichever content won, the placements with that content succeed and the others conflict.
    const twoLines = (events[0]!.data as { items: unknown[] }).items.length === 2;
    expect(results.map((r) => r.status)).toEqual(twoLines ? ['fulfilled', 'fulfilled', 'rejected'] : ['rejected', 'rejected', 'fulfilled']);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
  });

  it('a client-chosen order id: same content is a no-op, other content a conflict', async () => {
    const { orders } = await setup();
    expect(await orders.placeOrder({ customer: alice, items, payment: card, orderId: 'my-order-1' })).toEqual({ orderId: 'my-order-1', created: true });
    expect(await orders.placeOrder({ customer: alice, items, payment: card, orderId: 'my-order-1' })).toEqual({ orderId: 'my-order-1', created: false });
    await expect(orders.placeOrder({ customer: alice, items: [items[0]!], payment: card, orderId: 'my-order-1' })).rejects.toBeInstanceOf(ConflictError);
    await expect(
      orders.placeOrder({ customer: { id: 'bob', email: 'bob@example.com' }, items, payment: card, orderId: 'my-order-1' }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses unknown products and mixed currencies, naming the line', async () => {
    const { orders } = await setup();
    const unknown = orders.placeOrder({ customer: alice, items: [items[0]!, { sku: 'NOPE-1' as Sku, quantity: 1 }], payment: card });
    await expect(unknown).rejects.toBeInstanceOf(ValidationError);
    await expect(unknown).rejects.toMatchObject({ issues: [{ path: ['items', 1, 'sku'], message: 'unknown product NOPE-1', code: 'unknown_product' }] });
    await expect(orders.placeOrder({ customer: alice, items: [items[0]!, { sku: 'BAG-001' as Sku, quantity: 1 }], payment: card })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await store.listStreams({ category: 'order' })).toEqual({ streams: [] });
  });

  it('the owner or an admin may ask to cancel a pending order, nobody once it ended', async () => {
    const { orders } = await setup();
    const { orderId } = await orders.placeOrder({ customer: alice, items, payment: card });
    await expect(orders.requestCancellation({ orderId, actor: { userId: 'bob', role: 'customer' } })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(orders.requestCancellation({ orderId: 'missing', actor: { userId: 'alice', role: 'customer' } })).rejects.toBeInstanceOf(NotFoundError);
    expect(await orders.requestCancellation({ orderId, reason: 'changed my mind', actor: { userId: 'alice', role: 'customer' } })).toEqual({ orderId, requested: true });
    expect(await orders.requestCancellation({ orderId, actor: { userId: 'admin-1', role: 'admin' } })).toEqual({ orderId, requested: false });
    expect(await orders.handleSagaCommand(envelopeOf('CancelOrder', { orderId: orderId as OrderId, reason: 'cancelled by the customer' }))).toMatchObject({
      kind: 'appended',
    });
    await expect(orders.requestCancellation({ orderId, actor: { userId: 'alice', role: 'customer' } })).rejects.toBeInstanceOf(IllegalStateError);
    const events = await store.readStream(streamIdFor.order(orderId));
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['OrderPlaced', expect.objectContaining({ orderId })],
      ['OrderCancellationRequested', { orderId, reason: 'changed my mind', requestedAt: '2026-11-22T10:00:00.000Z' }],
      ['OrderCancelled', { orderId, reason: 'cancelled by the customer', cancelledAt: '2026-11-22T10:00:00.000Z' }],
    ]);
  });

  it('saga commands: confirm once, redelivery appends nothing, a rejection is returned not thrown', async () => {
    const { orders } = await setup();
    const { orderId } = await orders.placeOrder({ customer: alice, items, payment: card });
    const confirm = envelopeOf('ConfirmOrder', { orderId: orderId as OrderId });
    expect(await orders.handleSagaCommand(confirm)).toEqual({
      kind: 'appended',
      events: [{ type: 'OrderConfirmed', data: { orderId, confirmedAt: '2026-11-22T10:00:00.000Z' } }],
      revision: 1,
    });
    expect(await orders.handleSagaCommand(confirm)).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    expect(await orders.handleSagaCommand(envelopeOf('CancelOrder', { orderId: orderId as OrderId, reason: 'too late' }))).toMatchObject({
      kind: 'rejected',
      error: 'illegal-state',
    });
    const events = await store.readStream(streamIdFor.order(orderId));
    expect(events.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderConfirmed']);
    expect(events[1]!.eventId).toBe(deterministicId(confirm.commandId, 0));
  });
});
