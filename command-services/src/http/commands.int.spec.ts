import { randomUUID } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddProductRequest } from '@saga/event-schemas/inventory';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { AuthUser } from '@saga/platform/auth/jwt';
import { call, startTestStack, TEST_JWT, type CallOptions, type TestStack } from './test-stack';

let stack: TestStack;
let alice: AuthUser;
let bob: AuthUser;
const admin: AuthUser = { id: 'admin-1', email: 'admin@example.com', role: 'admin' };
const tokenOf = (user: AuthUser) => stack.jwt.sign(user);

const MUG = { sku: 'MUG-001', name: 'Mug', price: 1250, currency: 'EUR', stock: 10 };
const order = (quantity = 1) => ({ items: [{ sku: 'MUG-001', quantity }], payment: { card: '4242 4242 4242 4242' } });

beforeAll(async () => {
  stack = await startTestStack();
  alice = await stack.users.register({ email: 'alice@example.com', password: 'alice-password', name: 'Alice' });
  bob = await stack.users.register({ email: 'bob@example.com', password: 'bob-password', name: 'Bob' });
  await stack.inventory.addProduct(AddProductRequest.parse(MUG));
});
afterAll(async () => stack?.close());

const req = (method: string, url: string, options: CallOptions = {}) => call(stack.baseUrl, method, url, options);
const head = () => stack.store.headPosition();

/** Signs claims the way an attacker or a stale client would, bypassing createJwt. */
function craft(claims: object, options: jsonwebtoken.SignOptions, secret = TEST_JWT.secret): string {
  return jsonwebtoken.sign({ email: alice.email, role: 'admin', ...claims }, secret, {
    algorithm: 'HS256',
    issuer: TEST_JWT.issuer,
    audience: TEST_JWT.audience,
    subject: alice.id,
    expiresIn: 60,
    ...options,
  });
}
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('tokens the API refuses (401 problem+json, nothing appended)', () => {
  const cases: [string, () => string, string][] = [
    ['signed with another secret', () => craft({}, {}, 'an-attacker-secret-an-attacker-secret'), 'token signature invalid'],
    ['expired', () => craft({}, { expiresIn: -30 }), 'token expired'],
    ['from another issuer', () => craft({}, { issuer: 'evil-issuer' }), 'token issuer invalid'],
    ['for another audience', () => craft({}, { audience: 'another-api' }), 'token audience invalid'],
    [
      "with alg 'none'",
      () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ email: alice.email, role: 'admin', sub: alice.id, iss: TEST_JWT.issuer, aud: TEST_JWT.audience, exp: Math.floor(Date.now() / 1000) + 60 })}.`,
      'token algorithm not allowed',
    ],
    ['garbage', () => 'not-a-jwt', 'token malformed'],
  ];

  it.each(cases)('a token %s', async (_name, token, detail) => {
    const before = await head();
    for (const [url, body] of [['/api/orders', order()], ['/api/admin/products', { ...MUG, sku: 'HACK-1' }]] as const) {
      const res = await req('POST', url, { token: token(), body });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.body).toEqual({ type: '/problems/unauthorized', title: 'Unauthorized', status: 401, detail });
    }
    expect(await head()).toBe(before);
  });

  it('no token, or a header that is not Bearer', async () => {
    expect((await req('POST', '/api/orders', { body: order() })).body.detail).toBe('authentication required');
    const basic = await req('POST', '/api/orders', { body: order(), headers: { authorization: 'Basic YWxpY2U6eA==' } });
    expect([basic.status, basic.body.detail]).toEqual([401, 'the Authorization header must be "Bearer <token>"']);
  });
});

describe('roles', () => {
  it('a customer may not use admin routes (403), a service token may not place orders', async () => {
    const before = await head();
    const add = await req('POST', '/api/admin/products', { token: tokenOf(alice), body: { ...MUG, sku: 'HACK-2' } });
    expect([add.status, add.body]).toEqual([
      403,
      { type: '/problems/forbidden', title: 'Forbidden', status: 403, detail: 'this action requires the role admin' },
    ]);
    const restock = await req('POST', '/api/admin/products/MUG-001/restock', { token: tokenOf(alice), body: { quantity: 5 } });
    expect(restock.status).toBe(403);
    const service = await req('POST', '/api/orders', { token: tokenOf({ id: 'svc', email: 'svc@internal', role: 'service' }), body: order() });
    expect([service.status, service.body.detail]).toEqual([403, 'this action requires the role customer or admin']);
    expect(await head()).toBe(before);
  });
});

describe('bad input gets a clear 4xx and changes nothing', () => {
  const cases: [string, CallOptions, number, string][] = [
    ['malformed JSON', { raw: '{"items": [' }, 400, '/problems/malformed-json'],
    ['a JSON string instead of an object', { raw: '"hello"' }, 400, '/problems/malformed-json'],
    ['an unknown field', { body: { ...order(), discount: 100 } }, 400, '/problems/validation'],
    ['an unknown field in an item', { body: { ...order(), items: [{ sku: 'MUG-001', quantity: 1, price: 0 }] } }, 400, '/problems/validation'],
    ['a negative quantity', { body: order(-1) }, 400, '/problems/validation'],
    ['operator injection in a sku', { body: { ...order(), items: [{ sku: { $gt: '' }, quantity: 1 }] } }, 400, '/problems/validation'],
    ['an unknown product', { body: { ...order(), items: [{ sku: 'NOPE-404', quantity: 1 }] } }, 400, '/problems/validation'],
    ['a body over 64kb', { body: { ...order(), padding: 'x'.repeat(70_000) } }, 413, '/problems/payload-too-large'],
    ['a form-encoded body', { raw: 'items=1', contentType: 'application/x-www-form-urlencoded' }, 415, '/problems/unsupported-media-type'],
    ['a bad Idempotency-Key', { body: order(), headers: { 'idempotency-key': 'a b<script>' } }, 400, '/problems/validation'],
  ];

  it.each(cases)('%s', async (_name, options, status, type) => {
    const before = await head();
    const res = await req('POST', '/api/orders', { token: tokenOf(alice), ...options });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({ type, status });
    expect(await head()).toBe(before);
  });

  it('names every field at fault', async () => {
    const res = await req('POST', '/api/orders', {
      token: tokenOf(alice),
      body: { items: [{ sku: 'mug', quantity: 0 }], payment: { card: '42' } },
    });
    expect(res.body.issues).toEqual([
      { path: ['items', 0, 'sku'], message: 'sku must be 2-32 upper-case letters, digits or dashes', code: 'invalid_format' },
      { path: ['items', 0, 'quantity'], message: 'Too small: expected number to be >0', code: 'too_small' },
      { path: ['payment', 'card'], message: 'card must be 12-19 digits', code: 'invalid_format' },
    ]);
  });
});

describe('POST /api/orders', () => {
  it('places the order for the caller and answers 202 with its id; the card number is stored nowhere', async () => {
    const res = await req('POST', '/api/orders', { token: tokenOf(alice), body: order(2) });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ orderId: expect.any(String) });
    const events = await stack.store.readStream(streamIdFor.order(res.body.orderId));
    expect(events.map((e) => ({ type: e.type, data: e.data }))).toEqual([
      {
        type: 'OrderPlaced',
        data: {
          orderId: res.body.orderId,
          customerId: alice.id,
          customerEmail: 'alice@example.com',
          items: [{ sku: 'MUG-001', name: 'Mug', quantity: 2, unitPrice: 1250 }],
          total: 2500,
          currency: 'EUR',
          payment: { method: 'card', token: expect.stringMatching(/^tok_/), last4: '4242' },
          placedAt: expect.any(String),
        },
      },
    ]);
    expect(JSON.stringify(events)).not.toContain('4242424242424242');
  });

  it('the same Idempotency-Key returns the same order id and appends once', async () => {
    const key = randomUUID();
    const first = await req('POST', '/api/orders', { token: tokenOf(alice), body: order(), headers: { 'idempotency-key': key } });
    const before = await head();
    const second = await req('POST', '/api/orders', { token: tokenOf(alice), body: order(), headers: { 'idempotency-key': key } });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body).toEqual(first.body);
    expect(await head()).toBe(before);
    expect((await stack.store.readStream(streamIdFor.order(first.body.orderId))).map((e) => e.type)).toEqual(['OrderPlaced']);
  });

  it('the same key from another customer is another order', async () => {
    const key = randomUUID();
    const a = await req('POST', '/api/orders', { token: tokenOf(alice), body: order(), headers: { 'idempotency-key': key } });
    const b = await req('POST', '/api/orders', { token: tokenOf(bob), body: order(), headers: { 'idempotency-key': key } });
    expect(b.status).toBe(202);
    expect(b.body.orderId).not.toBe(a.body.orderId);
  });

  it("answers another customer's client-chosen order id exactly as a free one, and leaves the first order alone", async () => {
    const taken = `ord-${randomUUID()}`;
    const mine = await req('POST', '/api/orders', { token: tokenOf(alice), body: { ...order(), orderId: taken } });
    expect(mine.status).toBe(202);
    const alicesStream = await stack.store.readStream(streamIdFor.order(mine.body.orderId));

    const onTaken = await req('POST', '/api/orders', { token: tokenOf(bob), body: { ...order(), orderId: taken } });
    const onFree = await req('POST', '/api/orders', { token: tokenOf(bob), body: { ...order(), orderId: `ord-${randomUUID()}` } });
    const shape = (r: typeof onTaken) => [r.status, Object.keys(r.body), r.headers.get('content-type'), (r.headers.get('location') ?? '').replace(r.body.orderId, ':id')];
    expect(shape(onTaken)).toEqual(shape(onFree));
    expect(shape(onTaken)).toEqual([202, ['orderId'], expect.stringContaining('application/json'), '/api/orders/:id']);
    // Bob's order is his own, under an id of his; Alice's stream did not change.
    expect(onTaken.body.orderId).not.toBe(mine.body.orderId);
    expect((await stack.store.readStream(streamIdFor.order(onTaken.body.orderId))).map((e) => (e.data as { customerId?: string }).customerId)).toEqual([bob.id]);
    expect(await stack.store.readStream(streamIdFor.order(mine.body.orderId))).toEqual(alicesStream);
  });

  it('a client-chosen order id repeated by its customer is the same order, appended once', async () => {
    const chosen = `ord-${randomUUID()}`;
    const first = await req('POST', '/api/orders', { token: tokenOf(alice), body: { ...order(), orderId: chosen } });
    const before = await head();
    const again = await req('POST', '/api/orders', { token: tokenOf(alice), body: { ...order(), orderId: chosen } });
    expect([first.status, again.status, again.body]).toEqual([202, 202, first.body]);
    expect(await head()).toBe(before);
    const other = await req('POST', '/api/orders', { token: tokenOf(alice), body: { ...order(2), orderId: chosen } });
    expect([other.status, other.body.type]).toEqual([409, '/problems/conflict']);
    expect(await head()).toBe(before);
  });
});

describe('POST /api/orders/:orderId/cancel', () => {
  async function place(user: AuthUser) {
    return (await req('POST', '/api/orders', { token: tokenOf(user), body: order() })).body.orderId as string;
  }

  it('the owner asks to cancel: 202 and one OrderCancellationRequested; asking again appends nothing', async () => {
    const orderId = await place(alice);
    const res = await req('POST', `/api/orders/${orderId}/cancel`, { token: tokenOf(alice), body: { reason: 'changed my mind' } });
    expect([res.status, res.body]).toEqual([202, { orderId }]);
    const again = await req('POST', `/api/orders/${orderId}/cancel`, { token: tokenOf(alice) });
    expect(again.status).toBe(202);
    const events = await stack.store.readStream(streamIdFor.order(orderId));
    expect(events.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderCancellationRequested']);
    expect(events[1]!.data).toEqual({ orderId, reason: 'changed my mind', requestedAt: expect.any(String) });
  });

  it("another customer's order is a 404 and changes nothing; an admin may cancel it", async () => {
    const orderId = await place(alice);
    const before = await head();
    const res = await req('POST', `/api/orders/${orderId}/cancel`, { token: tokenOf(bob), body: {} });
    expect([res.status, res.body]).toEqual([
      404,
      { type: '/problems/not-found', title: 'Not found', status: 404, detail: `order ${orderId} not found` },
    ]);
    expect(await head()).toBe(before);
    expect((await req('POST', `/api/orders/${orderId}/cancel`, { token: tokenOf(admin), body: {} })).status).toBe(202);
  });

  it('an order that has ended is a 409; an unknown or malformed id a 404 or 400', async () => {
    const orderId = await place(alice);
    await stack.store.append(streamIdFor.order(orderId), [
      {
        eventId: randomUUID(),
        type: 'OrderRejected',
        data: { orderId, reason: 'out of stock', rejectedAt: new Date().toISOString() },
        metadata: { correlationId: orderId, causationId: randomUUID() },
      } as never,
    ]);
    const ended = await req('POST', `/api/orders/${orderId}/cancel`, { token: tokenOf(alice), body: {} });
    expect([ended.status, ended.body.type]).toEqual([409, '/problems/illegal-state']);
    expect((await req('POST', `/api/orders/no-such-order/cancel`, { token: tokenOf(alice) })).status).toBe(404);
    expect((await req('POST', `/api/orders/${encodeURIComponent('a b$')}/cancel`, { token: tokenOf(alice) })).status).toBe(400);
  });
});

describe('admin product routes', () => {
  it('adds a product (201) and restocks it (202)', async () => {
    const token = tokenOf(admin);
    const add = await req('POST', '/api/admin/products', { token, body: { sku: 'LAMP-001', name: 'Lamp', price: 3500, currency: 'EUR', stock: 3 } });
    expect([add.status, add.body]).toEqual([201, { sku: 'LAMP-001' }]);
    const restock = await req('POST', '/api/admin/products/LAMP-001/restock', { token, body: { quantity: 7 } });
    expect([restock.status, restock.body]).toEqual([202, { sku: 'LAMP-001', quantity: 7 }]);
    const state = await stack.inventory.priceLookup(['LAMP-001']);
    expect(state.get('LAMP-001')).toEqual({ sku: 'LAMP-001', name: 'Lamp', price: 3500, currency: 'EUR' });
  });

  it('refuses a taken sku (409), an unknown sku (404), bad fields (400), changing nothing', async () => {
    const token = tokenOf(admin);
    const before = await head();
    const taken = await req('POST', '/api/admin/products', { token, body: { ...MUG, name: 'Another mug' } });
    expect([taken.status, taken.body.type]).toEqual([409, '/problems/conflict']);
    const unknown = await req('POST', '/api/admin/products/NOPE-404/restock', { token, body: { quantity: 1 } });
    expect([unknown.status, unknown.body.type]).toEqual([404, '/problems/not-found']);
    const bad = await req('POST', '/api/admin/products', { token, body: { sku: 'X-1', name: 'X', price: -1, currency: 'euro', stock: 1, extra: true } });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: { path: unknown[] }) => i.path.join('.')).sort()).toEqual(['', 'currency', 'price']);
    const badSku = await req('POST', '/api/admin/products/lower-case/restock', { token, body: { quantity: 1 } });
    expect([badSku.status, badSku.body.issues[0].path]).toEqual([400, ['sku']]);
    expect(await head()).toBe(before);
  });
});

describe('the edge', () => {
  it('serves /healthz and Prometheus /metrics, and echoes a correlation id', async () => {
    const health = await req('GET', '/healthz', { headers: { 'x-correlation-id': 'corr-123' } });
    expect([health.status, health.body]).toEqual([200, { status: 'ok', service: 'command-api-test' }]);
    expect(health.headers.get('x-correlation-id')).toBe('corr-123');
    const metrics = await req('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('http_request_duration_seconds_bucket{');
    expect(metrics.body).toContain('route="/api/orders"');
  });

  it('an unknown route is a 404 problem', async () => {
    const res = await req('GET', '/api/nothing-here');
    expect([res.status, res.body]).toEqual([
      404,
      { type: '/problems/not-found', title: 'Not found', status: 404, detail: 'no route for GET /api/nothing-here' },
    ]);
  });
});
