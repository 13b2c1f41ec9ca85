import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwt, type AuthUser } from '@saga/platform/auth/jwt';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { createLogger } from '@saga/platform/logging';
import { createMetrics } from '@saga/platform/metrics';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { appendStory, customerOrder, demoCatalog, orderStory, outcomeOf, productStory } from '@saga/projections/projectors/fixtures';
import { groupIdOf } from '@saga/projections/projectors/projection';
import { allProjections } from '@saga/projections/projectors/registry';
import { createProjectorRunner, type ProjectorRunner } from '@saga/projections/projectors/runner';
import { createRebuildService } from '@saga/projections/rebuild/service';
import { startRelay, type Relay } from '@saga/projections/relay/relay';
import { createReadApi } from './read-api';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const jwt = createJwt({ secret: 'a-test-secret-that-is-long-enough-123', issuer: 'test', audience: 'test', ttlSeconds: 600 });
// customerOrder(n) belongs to cust-(n % 10) with email cust-(n % 10)@example.com.
const alice: AuthUser = { id: 'cust-1', email: 'cust-1@example.com', role: 'customer' };
const bob: AuthUser = { id: 'cust-2', email: 'cust-2@example.com', role: 'customer' };
const admin: AuthUser = { id: 'admin', email: 'admin@example.com', role: 'admin' };

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface SseMessage {
  event: string;
  id: string | undefined;
  data: unknown;
}

/** Reads server-sent events until `stop` says enough, then hangs up. */
async function readSse(url: string, headers: Record<string, string>, stop: (all: SseMessage[]) => boolean, timeoutMs = 15_000): Promise<SseMessage[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const messages: SseMessage[] = [];
  try {
    const res = await fetch(url, { headers, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    while (!stop(messages)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          frame
            .split('\n')
            .filter((l) => l && !l.startsWith(':'))
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]),
        );
        if (fields.event) messages.push({ event: fields.event, id: fields.id, data: fields.data ? JSON.parse(fields.data) : null });
      }
    }
    await reader.cancel().catch(() => undefined);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return messages;
}

describe('the query API on the embedded stores', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let relay: Relay;
  let runners: ProjectorRunner[];
  let server: Server;
  let base: string;
  let nextOrder = 0;

  const appendOrders = async (count: number) => {
    for (let i = 0; i < count; i++, nextOrder++) await appendStory(eventStore, orderStory(customerOrder(nextOrder, t0 + nextOrder * 100), outcomeOf(nextOrder)));
  };
  const caughtUp = async () => {
    for (const runner of runners) if ((await bus.lag(groupIdOf(runner.projection))).some((l) => l.lag > 0)) return false;
    return (await bus.readCheckpoint('relay.relay')) === (await eventStore.headPosition());
  };
  const get = (url: string, user?: AuthUser) => fetch(`${base}${url}`, { headers: user ? { authorization: `Bearer ${jwt.sign(user)}` } : {} });
  const json = async (url: string, user?: AuthUser) => {
    const res = await get(url, user);
    expect(res.status, url).toBe(200);
    return res.json() as Promise<Record<string, unknown>>;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-api-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    relay = await startRelay({ store: eventStore, bus });
    runners = allProjections.map((projection) => createProjectorRunner({ bus, store: documentStore, projection }));
    for (const runner of runners) await runner.start();
    const rebuilds = createRebuildService({
      eventStore,
      documentStore,
      projections: allProjections,
      liveOf: (name) => runners.find((r) => r.projection.name === name),
    });
    const app = createHttpApp({ name: 'read-api-test', logger: createLogger({ name: 'read-api-test', level: 'silent' }), metrics: createMetrics('read-api-test') });
    app.use(await createReadApi({ jwt, documentStore, eventStore, bus, rebuilds, runners }));
    finishApp(app);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await appendStory(eventStore, productStory(demoCatalog(1000), t0));
    await appendOrders(24);
    await until(caughtUp, 'the projectors to catch up');
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    for (const runner of runners ?? []) await runner.stop();
    await relay?.stop();
    await bus?.close();
    await documentStore?.close();
    await eventStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the catalog with live stock to anyone', async () => {
    const body = await json('/api/products');
    expect((body.items as unknown[]).length).toBe(5);
    // SKU-0 is ordered by orders 0, 5, 10, 15, 20 (quantities 1, 3, 2, 1, 3; outcomes by n % 6:
    // confirmed, out of stock, confirmed, cancelled, declined): 1 + 2 sold, nothing held.
    expect((body.items as Record<string, unknown>[])[0]).toEqual({ sku: 'SKU-0', name: 'Product 0', price: 500, currency: 'EUR', available: 1000 - 1 - 2, reserved: 0 });
  });

  it('lets a customer list and read only their own orders; another id is 404; admin sees all', async () => {
    const mine = await json('/api/orders?limit=100', alice);
    const ids = (mine.items as { orderId: string; customerId: string }[]).map((o) => o.orderId).sort();
    expect(ids).toEqual(['ord-1', 'ord-11', 'ord-21']);
    expect((await json('/api/orders/ord-11', alice)).customerId).toBe('cust-1');
    const other = await get('/api/orders/ord-12', alice);
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await get('/api/sagas/ord-12', alice)).status).toBe(404);
    expect((await get('/api/streams/order-ord-12/events', alice)).status).toBe(404);
    expect((await get('/api/streams/order-ord-11/events', alice)).status).toBe(200);
    expect((await get('/api/orders/ord-12', admin)).status).toBe(200);
    const all = await json('/api/orders?limit=100', admin);
    expect((all.items as unknown[]).length).toBe(24);
    expect((await get('/api/orders')).status).toBe(401);
  });

  it('pages by cursor and filters by status from validated parameters only', async () => {
    const first = await json('/api/orders?status=confirmed&limit=5', admin);
    expect(first.items).toHaveLength(5);
    const second = await json(`/api/orders?status=confirmed&limit=5&cursor=${first.nextCursor as string}`, admin);
    // outcomeOf: confirmed for n % 6 in {0, 1, 4}: 12 of the 24 orders.
    expect(second.items).toHaveLength(5);
    const third = await json(`/api/orders?status=confirmed&limit=5&cursor=${second.nextCursor as string}`, admin);
    expect(third).toMatchObject({ nextCursor: null });
    expect((third.items as unknown[]).length).toBe(2);
    for (const bad of ['/api/orders?status[$gt]=', '/api/orders?status=shipped', '/api/orders?customerId=cust-2', '/api/orders?limit=1000', '/api/orders?status=a&status=b']) {
      const res = await get(bad, alice);
      expect(res.status, bad).toBe(400);
      expect(await res.json()).toMatchObject({ status: 400 });
    }
  });

  it('shows stats to admins only, with money that balances', async () => {
    expect((await get('/api/stats', alice)).status).toBe(403);
    const stats = await json('/api/stats', admin);
    expect(stats.orders).toEqual({ total: 24, pending: 0, confirmed: 12, rejected: 8, cancelled: 4 });
    expect((stats.capturedTotal as number) - (stats.refundedTotal as number)).toBe(stats.confirmedTotal);
  });

  it('lists sagas by status for admins and shows a customer the saga of their own order', async () => {
    const completed = await json('/api/sagas?status=completed&limit=100', admin);
    expect((completed.items as { status: string }[]).map((s) => s.status)).toEqual(Array(12).fill('completed'));
    expect((await get('/api/sagas', alice)).status).toBe(403);
    expect(await json('/api/sagas/ord-1', alice)).toMatchObject({ orderId: 'ord-1', state: 'completed', status: 'completed', endedAt: expect.any(String) });
  });

  it('shows each customer their own mail', async () => {
    const mail = await json('/api/mailbox', bob);
    expect((mail.items as { to: string; orderId: string }[]).map((m) => [m.to, m.orderId]).sort()).toEqual([
      ['cust-2@example.com', 'ord-12'],
      ['cust-2@example.com', 'ord-2'],
      ['cust-2@example.com', 'ord-22'],
    ]);
    expect(((await json('/api/mailbox?limit=100', admin)).items as unknown[]).length).toBe(24);
  });

  it('time-travels an order stream: the state at a revision and what that event changed', async () => {
    const body = await json('/api/streams/order-ord-1/state?revision=1', alice);
    expect(body).toMatchObject({ streamId: 'order-ord-1', revision: 1, lastRevision: 1, state: { status: 'confirmed' } });
    expect(body.changes).toEqual([
      { op: 'replace', path: '/status', oldValue: 'pending', value: 'confirmed' },
      { op: 'remove', path: '/cancellationRequested', oldValue: false },
      { op: 'add', path: '/confirmedAt', value: new Date(t0 + 100 + 7).toISOString() },
    ]);
    const saga = await json('/api/streams/saga-ord-1/state?revision=0', admin);
    expect(saga).toMatchObject({ state: { state: 'reservingStock', status: 'running' } });
    const listing = await json('/api/streams?category=order&limit=3', admin);
    expect(listing.categories).toEqual(expect.arrayContaining([{ category: 'order', streams: 24 }]));
    expect((await get('/api/streams/order-ord-1/state?revision=9', admin)).status).toBe(400);
    expect((await get('/api/log?limit=10', alice)).status).toBe(403);
    expect(((await json('/api/log?limit=10', admin)).events as unknown[]).length).toBe(10);
  });

  it('streams live changes and resumes after Last-Event-ID without a gap or a repeat', async () => {
    const token = jwt.sign(admin);
    const head = (await eventStore.headPosition())!;
    const firstBatch = appendOrders(1);
    const first = await readSse(`${base}/api/live?access_token=${token}&lastEventId=${head}`, {}, (m) => m.filter((x) => x.event === 'log').length >= 5);
    await firstBatch;
    // SSE ids are the events' positions, exactly as the store hands them out.
    const logIds = first.filter((m) => m.event === 'log').map((m) => m.id);
    const next5 = (await eventStore.readAll({ after: head, limit: 5 })).map((e) => e.position);
    expect(logIds.slice(0, 5)).toEqual(next5);
    const order = first.find((m) => m.event === 'order' && m.id === next5[0]);
    // The order as the read model holds it once it reflects that event (it may be further on already).
    expect(order?.data).toMatchObject({ orderId: 'ord-24', cause: { type: 'OrderPlaced', streamId: 'order-ord-24', revision: 0 }, order: { orderId: 'ord-24', customerId: 'cust-4' }, stale: false });

    const lastSeen = next5[4]!;
    await appendOrders(1);
    const newHead = await eventStore.headPosition();
    const resumed = await readSse(`${base}/api/live?access_token=${token}`, { 'Last-Event-ID': lastSeen }, (m) =>
      m.some((x) => x.event === 'log' && x.id === newHead),
    );
    const resumedIds = resumed.filter((m) => m.event === 'log').map((m) => m.id);
    expect(resumedIds).toEqual((await eventStore.readAll({ after: lastSeen })).map((e) => e.position));

    // A customer's stream carries their own orders (ord-24 is cust-4's, ord-25 cust-5's), public stock, and no log.
    const [lastStock] = await eventStore.readAll({ direction: 'backwards', fromPosition: 'end', limit: 1, filter: { streamPrefixes: ['inventory-'] } });
    const owner: AuthUser = { id: 'cust-4', email: 'cust-4@example.com', role: 'customer' };
    const theirs = await readSse(`${base}/api/live?access_token=${jwt.sign(owner)}&lastEventId=${head}`, {}, (m) =>
      m.some((x) => x.event === 'stock' && x.id === lastStock!.position),
    );
    expect(theirs.filter((m) => m.event === 'log')).toEqual([]);
    const orderIds = new Set(theirs.filter((m) => m.event === 'order' || m.event === 'saga').map((m) => (m.data as { orderId: string }).orderId));
    expect([...orderIds]).toEqual(['ord-24']);
    expect(theirs.filter((m) => m.event === 'stock').length).toBeGreaterThanOrEqual(4);
    expect((await get('/api/live?access_token=forged')).status).toBe(401);
  });

  it('rebuilds a projection from the API and replays a range to one consumer group', async () => {
    expect((await fetch(`${base}/api/projections/orders/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${jwt.sign(alice)}` } })).status).toBe(403);
    const started = await fetch(`${base}/api/projections/orders/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${jwt.sign(admin)}` } });
    expect(started.status).toBe(202);
    await until(async () => {
      const body = await json('/api/projections', admin);
      const orders = (body.items as { name: string; rebuild: { phase: string } | null }[]).find((p) => p.name === 'orders');
      return orders?.rebuild?.phase === 'done';
    }, 'the rebuild to finish');
    const unknown = await fetch(`${base}/api/projections/nope/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${jwt.sign(admin)}` } });
    expect(unknown.status).toBe(404);

    const fifty = await eventStore.readAll({ limit: 50 });
    const [fromPosition, toPosition] = [fifty[0]!.position, fifty[49]!.position];
    const replay = await fetch(`${base}/api/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt.sign(admin)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ groupId: 'projection-orders', fromPosition, toPosition }),
    });
    expect(replay.status).toBe(202);
    expect(await replay.json()).toEqual({ groupId: 'projection-orders', topic: 'replay.projection-orders', fromPosition, toPosition, published: 50, mode: 'topic' });
    const injected = await fetch(`${base}/api/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt.sign(admin)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ groupId: { $gt: '' }, fromPosition }),
    });
    expect(injected.status).toBe(400);
  });
});
