/**
 * The whole embedded system, started as `npm start` starts it, driven over its public HTTP
 * API: every test card, cancellation, a timeout followed by a late success, and the
 * design's invariants (stock and money balance) at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Client, removeDataDir, startSystem, type RunningSystem } from './harness';

interface Product { sku: string; name: string; price: number; currency: string; available: number; reserved: number }
interface Order { id?: string; orderId?: string; status: string; total: number }
interface Saga { status: string; flags?: string[] }
interface Stats { capturedTotal: number; refundedTotal: number; confirmedTotal: number }

const STEP_TIMEOUT_MS = 1500;
let system: RunningSystem;
let alice: Client;
let admin: Client;
let bob: Client;
let sku: string;

async function products(): Promise<Product[]> {
  const res = await alice.request<{ items: Product[] }>('GET', '/api/products');
  expect(res.status).toBe(200);
  return res.body.items;
}

async function stockOf(s: string): Promise<Product> {
  const p = (await products()).find((x) => x.sku === s);
  if (!p) throw new Error(`no product ${s}`);
  return p;
}

async function place(client: Client, card: string, quantity = 1): Promise<string> {
  const res = await client.request<{ orderId: string }>(
    'POST',
    '/api/orders',
    { items: [{ sku, quantity }], payment: { card } },
    { 'idempotency-key': randomUUID() },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.orderId;
}

const ended = (o: Order) => ['confirmed', 'rejected', 'cancelled'].includes(o.status);

beforeAll(async () => {
  system = await startSystem({ env: { SAGA_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS) } });
  alice = await new Client(system.baseUrl).login('alice@example.com', 'alice-password');
  admin = await new Client(system.baseUrl).login('admin@example.com', 'admin-password');
  const reg = await new Client(system.baseUrl).request<{ token: string }>('POST', '/api/auth/register', {
    email: 'bob@example.com',
    password: 'bob-password-1',
    name: 'Bob',
  });
  expect(reg.status).toBe(201);
  bob = new Client(system.baseUrl);
  bob.token = reg.body.token;
  // A product of our own so other tests' orders don't move its stock.
  sku = `E2E-${Date.now().toString(36).toUpperCase()}`;
  const added = await admin.request('POST', '/api/admin/products', { sku, name: 'E2E mug', price: 1250, currency: 'EUR', stock: 20 });
  expect(added.status).toBeLessThan(300);
  await alice.waitFor<{ items: Product[] }>('/api/products', (b) => b.items.some((p) => p.sku === sku));
}, 120_000);

afterAll(async () => {
  const code = await system?.stop();
  expect(code).toBe(0);
  removeDataDir(system.dataDir);
});

describe('an order through the whole saga', () => {
  it('4242424242424242 is confirmed, its saga completes and the stock is sold', async () => {
    const before = await stockOf(sku);
    const orderId = await place(alice, '4242424242424242', 2);
    const order = await alice.waitFor<Order>(`/api/orders/${orderId}`, ended);
    expect(order.status).toBe('confirmed');
    expect(order.total).toBe(2500);
    const saga = await alice.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.status !== 'running');
    expect(saga.status).toBe('completed');
    const after = await alice.waitFor<{ items: Product[] }>('/api/products', (b) =>
      b.items.some((p) => p.sku === sku && p.available === before.available - 2 && p.reserved === 0),
    );
    expect(after.items.find((p) => p.sku === sku)).toMatchObject({ available: before.available - 2, reserved: 0 });
  });

  it.each([
    ['4000000000000002', 'declined'],
    ['4000000000009995', 'insufficient funds'],
  ])('%s (%s) ends rejected with the stock released', async (card) => {
    const before = await stockOf(sku);
    const orderId = await place(alice, card);
    const order = await alice.waitFor<Order>(`/api/orders/${orderId}`, ended);
    expect(order.status).toBe('rejected');
    const saga = await alice.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.status !== 'running');
    expect(saga.status).toBe('rejected');
    await alice.waitFor<{ items: Product[] }>('/api/products', (b) =>
      b.items.some((p) => p.sku === sku && p.available === before.available && p.reserved === 0),
    );
  });

  it('4000000000000119 fails twice transiently, then is confirmed', async () => {
    const orderId = await place(alice, '4000000000000119');
    const order = await alice.waitFor<Order>(`/api/orders/${orderId}`, ended);
    expect(order.status).toBe('confirmed');
  });

  it('4000000000000259 times out: rejected, and the late capture is refunded', async () => {
    const statsBefore = (await admin.request<Stats>('GET', '/api/stats')).body;
    const orderId = await place(alice, '4000000000000259');
    const order = await alice.waitFor<Order>(`/api/orders/${orderId}`, ended, 20_000);
    expect(order.status).toBe('rejected');
    // The gateway answers after the timeout; the saga must refund that capture.
    const stats = await admin.waitFor<Stats>(
      '/api/stats',
      (s) => s.refundedTotal >= statsBefore.refundedTotal + 1250,
      30_000,
    );
    expect(stats.capturedTotal - stats.refundedTotal).toBe(stats.confirmedTotal);
  });

  it('a customer cancelling while the saga runs ends cancelled with stock and money back', async () => {
    const before = await stockOf(sku);
    const orderId = await place(alice, '4000000000000259'); // payment hangs: the saga is running
    await alice.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.status === 'running');
    const cancel = await alice.request('POST', `/api/orders/${orderId}/cancel`, {});
    expect(cancel.status).toBe(202);
    const order = await alice.waitFor<Order>(`/api/orders/${orderId}`, ended, 20_000);
    expect(order.status).toBe('cancelled');
    await alice.waitFor<{ items: Product[] }>('/api/products', (b) =>
      b.items.some((p) => p.sku === sku && p.available === before.available && p.reserved === 0),
    );
    const again = await alice.request('POST', `/api/orders/${orderId}/cancel`, {});
    expect(again.status).toBe(409);
  });

  it('the same Idempotency-Key places one order', async () => {
    const key = randomUUID();
    const body = { items: [{ sku, quantity: 1 }], payment: { card: '4242424242424242' } };
    const first = await alice.request<{ orderId: string }>('POST', '/api/orders', body, { 'idempotency-key': key });
    const second = await alice.request<{ orderId: string }>('POST', '/api/orders', body, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.orderId).toBe(first.body.orderId);
    const events = await admin.request<{ events: { type: string }[] }>('GET', `/api/streams/order-${first.body.orderId}/events`);
    expect(events.body.events.filter((e) => e.type === 'OrderPlaced')).toHaveLength(1);
  });

  it("a customer cannot read another customer's order", async () => {
    const orderId = await place(alice, '4242424242424242');
    expect((await bob.request('GET', `/api/orders/${orderId}`)).status).toBe(404);
    expect((await admin.request('GET', `/api/orders/${orderId}`)).status).toBe(200);
  });

  it('bad input is refused with problem+json and changes nothing', async () => {
    // The orders placed just before are still reserving and releasing: measure "nothing" once they are done.
    await admin.waitFor<{ items: Saga[] }>('/api/sagas?status=running', (b) => b.items.length === 0, 30_000);
    const before = await stockOf(sku);
    const res = await alice.request<{ type: string; issues: unknown[] }>('POST', '/api/orders', {
      items: [{ sku, quantity: -1 }],
      payment: { card: '4242424242424242' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.issues.length).toBeGreaterThan(0);
    expect((await stockOf(sku)).available).toBe(before.available);
  });

  it('after every saga has ended, stock and money balance', async () => {
    await admin.waitFor<{ items: Saga[] }>('/api/sagas?status=running', (b) => b.items.length === 0, 30_000);
    const stats = await admin.waitFor<Stats>('/api/stats', (s) => s.capturedTotal - s.refundedTotal === s.confirmedTotal, 30_000);
    expect(stats.capturedTotal - stats.refundedTotal).toBe(stats.confirmedTotal);
    const p = await stockOf(sku);
    expect(p.reserved).toBe(0);
    expect(p.available).toBeGreaterThanOrEqual(0);
  });
});
