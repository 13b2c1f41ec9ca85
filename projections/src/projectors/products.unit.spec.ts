import { describe, expect, it } from 'vitest';
import { orderStory, productStory, record, type OrderSpec } from './fixtures';
import { productsProjection } from './products';
import { given } from './projection';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const catalog = productStory(
  [
    { sku: 'MUG-001', name: 'Mug', price: 1250, currency: 'EUR', stock: 10 },
    { sku: 'TEE-002', name: 'T-shirt', price: 2000, currency: 'EUR', stock: 5 },
  ],
  t0,
);
const orderOf = (orderId: string, quantity: number): OrderSpec => ({
  orderId,
  customerId: 'alice',
  email: 'alice@example.com',
  sku: 'MUG-001',
  name: 'Mug',
  quantity,
  unitPrice: 1250,
  currency: 'EUR',
  t0: t0 + 100,
});

describe('products projection', () => {
  it('tracks available, reserved and sold through a sale, a declined payment and a reservation in flight', () => {
    const revisions = new Map<string, number>();
    const story = [
      ...catalog,
      ...orderStory(orderOf('sold', 3), 'confirmed'),
      ...orderStory(orderOf('declined', 2), 'declined'),
      ...orderStory(orderOf('inflight', 1), 'confirmed').slice(0, 3), // placed, saga started, stock reserved
    ];
    expect(given(productsProjection).when(...record(story, { revisions })).documents()).toEqual({
      'MUG-001': {
        id: 'MUG-001',
        sku: 'MUG-001',
        name: 'Mug',
        price: 1250,
        currency: 'EUR',
        available: 6,
        reserved: 1,
        sold: 3,
        restocked: 0,
        initialStock: 10,
        _applied: [{ s: 'inventory-warehouse', r: revisions.get('inventory-warehouse') }],
      },
      'TEE-002': {
        id: 'TEE-002',
        sku: 'TEE-002',
        name: 'T-shirt',
        price: 2000,
        currency: 'EUR',
        available: 5,
        reserved: 0,
        sold: 0,
        restocked: 0,
        initialStock: 5,
        _applied: [{ s: 'inventory-warehouse', r: 1 }],
      },
    });
  });

  it('adds restocked units to what is available', () => {
    const [added] = record(catalog);
    const restocked = record(
      [{ streamId: 'inventory-warehouse', event: { type: 'ProductRestocked', data: { sku: 'MUG-001', quantity: 7 } } as never, at: new Date(t0).toISOString(), correlationId: 'MUG-001' }],
      { startPosition: 5, revisions: new Map([['inventory-warehouse', 1]]) },
    );
    const doc = given(productsProjection).when(added!, ...restocked).documents()['MUG-001'];
    expect(doc).toMatchObject({ available: 17, reserved: 0, sold: 0, restocked: 7, initialStock: 10 });
  });

  it('does not reserve twice when the warehouse stream is redelivered', () => {
    const story = record([...catalog, ...orderStory(orderOf('o1', 4), 'confirmed').slice(0, 3)]);
    const doc = given(productsProjection, story).when(...story).documents()['MUG-001'];
    expect(doc).toMatchObject({ available: 6, reserved: 4, sold: 0 });
  });
});
