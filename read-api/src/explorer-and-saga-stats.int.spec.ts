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
const admin: AuthUser = { id: 'admin', email: 'admin@example.com', role: 'admin' };
const alice: AuthUser = { id: 'cust-1', email: 'cust-1@example.com', role: 'customer' };
const ORDERS = 30;

describe('explorer paging and search, and exact saga counts', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let relay: Relay;
  let runners: ProjectorRunner[];
  let server: Server;
  let base: string;

  const get = (url: string, user: AuthUser = admin) => fetch(`${base}${url}`, { headers: { authorization: `Bearer ${jwt.sign(user)}` } });
  const json = async <T = Record<string, unknown>>(url: string, user: AuthUser = admin) => {
    const res = await get(url, user);
    expect(res.status, url).toBe(200);
    return (await res.json()) as T;
  };
  type Page = { revision: number; events: { revision: number; type: string }[]; next: number | null; previous: number | null };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'explorer-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    relay = await startRelay({ store: eventStore, bus });
    runners = allProjections.map((projection) => createProjectorRunner({ bus, store: documentStore, projection }));
    for (const runner of runners) await runner.start();
    const rebuilds = createRebuildService({ eventStore, documentStore, projections: allProjections, liveOf: (n) => runners.find((r) => r.projection.name === n) });
    const app = createHttpApp({ name: 'explorer-test', logger: createLogger({ name: 'explorer-test', level: 'silent' }), metrics: createMetrics('explorer-test') });
    app.use(await createReadApi({ jwt, documentStore, eventStore, bus, rebuilds, runners }));
    finishApp(app);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await appendStory(eventStore, productStory(demoCatalog(1000), t0));
    for (let n = 0; n < ORDERS; n++) await appendStory(eventStore, orderStory(customerOrder(n, t0 + n * 100), outcomeOf(n)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const lags = await Promise.all(runners.map(async (r) => (await bus.lag(groupIdOf(r.projection))).reduce((s, l) => s + l.lag, 0)));
      if ((await bus.readCheckpoint('relay.relay')) === String(await eventStore.headPosition()) && lags.every((l) => l === 0)) break;
      if (Date.now() > deadline) throw new Error('projectors did not catch up');
      await new Promise((r) => setTimeout(r, 20));
    }
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

  it('reads a long stream from its newest revision backwards, page by page, and forwards again', async () => {
    const last = await eventStore.streamRevision('inventory-warehouse');
    expect(last).toBeGreaterThan(40);
    const first = await json<Page>('/api/streams/inventory-warehouse/events?direction=backwards&limit=20');
    expect(first.revision).toBe(last);
    expect(first.events.map((e) => e.revision)).toEqual(Array.from({ length: 20 }, (_, i) => last - i));
    expect(first.next).toBe(last - 20);
    expect(first.previous).toBeNull();
    const seen = [...first.events.map((e) => e.revision)];
    for (let next = first.next; next !== null; ) {
      const page = await json<Page>(`/api/streams/inventory-warehouse/events?direction=backwards&from=${next}&limit=20`);
      seen.push(...page.events.map((e) => e.revision));
      next = page.next;
    }
    expect(seen).toEqual(Array.from({ length: last + 1 }, (_, i) => last - i));
    const forwards = await json<Page>(`/api/streams/inventory-warehouse/events?from=${last - 5}&limit=20`);
    expect(forwards.events.map((e) => e.revision)).toEqual([last - 5, last - 4, last - 3, last - 2, last - 1, last]);
    expect(forwards).toMatchObject({ next: null, previous: last - 6 });
  });

  it('filters a stream by event type and continues where the scan stopped', async () => {
    const all = await eventStore.readStream('inventory-warehouse');
    const released = all.filter((e) => e.type === 'StockReleased').map((e) => e.revision);
    expect(released.length).toBeGreaterThan(3);
    const page = await json<Page>('/api/streams/inventory-warehouse/events?type=StockReleased&limit=3');
    expect(page.events.map((e) => e.revision)).toEqual(released.slice(0, 3));
    const rest = await json<Page>(`/api/streams/inventory-warehouse/events?type=StockReleased&limit=500&from=${page.next}`);
    expect([...page.events, ...rest.events].map((e) => e.revision)).toEqual(released);
    expect((await get('/api/streams/inventory-warehouse/events?type=Stock%20Released')).status).toBe(400);
    expect((await get('/api/streams/inventory-warehouse/events?direction=sideways')).status).toBe(400);
  });

  it('finds streams by the start of their name, paged, without leaking past the prefix', async () => {
    const orderIds = (await eventStore.listStreams({ category: 'order', limit: 500 })).streams.map((s) => s.streamId);
    const prefix = 'order-ord-1';
    const matching = orderIds.filter((id) => id.startsWith(prefix)).sort();
    expect(matching.length).toBeGreaterThan(5);
    const page1 = await json<{ streams: { streamId: string }[]; next: string | null }>(`/api/streams?prefix=${prefix}&limit=5`);
    expect(page1.streams.map((s) => s.streamId)).toEqual(matching.slice(0, 5));
    const page2 = await json<{ streams: { streamId: string }[]; next: string | null }>(`/api/streams?prefix=${prefix}&limit=500&after=${page1.next}`);
    expect(page2.streams.map((s) => s.streamId)).toEqual(matching.slice(5));
    expect(page2.next).toBeNull();
    expect((await json<{ streams: unknown[] }>('/api/streams?prefix=inv')).streams).toEqual([expect.objectContaining({ streamId: 'inventory-warehouse' })]);
    expect((await get('/api/streams?prefix=%24gt')).status).toBe(400);
  });

  it('serves exact saga counts per state and transition, and the instances in a state', async () => {
    const sagas = await Promise.all(Array.from({ length: ORDERS }, (_, n) => eventStore.readStream(`saga-ord-${n}`)));
    const states: Record<string, number> = {};
    const transitions: Record<string, number> = {};
    for (const stream of sagas) {
      let state = '';
      for (const e of stream) {
        const d = e.data as { state?: string; from?: string; to?: string };
        if (e.type === 'SagaStarted') state = d.state!;
        if (e.type === 'SagaTransitioned') {
          state = d.to!;
          transitions[`${d.from}->${d.to}`] = (transitions[`${d.from}->${d.to}`] ?? 0) + 1;
        }
      }
      states[state] = (states[state] ?? 0) + 1;
    }
    // The fixtures' sagas all started on the newest definition, version 2; none runs version 1.
    expect(await json('/api/saga-stats?version=2')).toEqual({ total: ORDERS, states, transitions });
    expect(await json('/api/saga-stats?version=1')).toEqual({ total: 0, states: {}, transitions: {} });
    expect(await json('/api/saga-stats')).toEqual({ total: ORDERS, states, transitions });
    expect((await get('/api/saga-stats', alice)).status).toBe(403);
    expect((await get('/api/saga-stats?version=x')).status).toBe(400);
    expect((await get('/api/saga-stats?status[$gt]=')).status).toBe(400);

    const page1 = await json<{ items: { orderId: string; state: string }[]; nextCursor: string | null }>('/api/saga-stats/states/completed/instances?limit=4');
    expect(page1.items).toHaveLength(4);
    const page2 = await json<{ items: { orderId: string; state: string }[]; nextCursor: string | null }>(
      `/api/saga-stats/states/completed/instances?limit=200&cursor=${page1.nextCursor}`,
    );
    const ids = [...page1.items, ...page2.items].map((i) => i.orderId);
    expect(new Set(ids).size).toBe(states.completed);
    expect([...page1.items, ...page2.items].every((i) => i.state === 'completed')).toBe(true);
    expect((await get('/api/saga-stats/states/%24where/instances')).status).toBe(400);

    // An edge's instances: every saga that took it, searchable by order id prefix and paged.
    const edge = 'sendingConfirmationEmail->completed';
    const onEdge = await json<{ items: { orderId: string; edge: string; count: number }[]; nextCursor: string | null }>(
      '/api/saga-stats/transitions/sendingConfirmationEmail/completed/instances?limit=200',
    );
    expect(onEdge.items).toHaveLength(transitions[edge]!);
    expect(onEdge.items.every((i) => i.edge === edge && i.count === 1)).toBe(true);
    const one = onEdge.items[0]!.orderId;
    const byId = await json<{ items: { orderId: string }[] }>(`/api/saga-stats/transitions/sendingConfirmationEmail/completed/instances?orderId=${one}`);
    expect(byId.items.map((i) => i.orderId)).toEqual(sagas.map((_, n) => `ord-${n}`).filter((id) => id.startsWith(one) && onEdge.items.some((i) => i.orderId === id)));
    expect((await get('/api/saga-stats/transitions/a/b/instances?since=yesterday')).status).toBe(400);
  });

  it('lets an admin page the mailbox of one recipient; a customer still sees only their own', async () => {
    type Mail = { items: { to: string; emailId: string }[]; nextCursor: string | null };
    const all = await json<Mail>('/api/mailbox?limit=100');
    expect(new Set(all.items.map((m) => m.to)).size).toBeGreaterThan(1);
    const first = await json<Mail>('/api/mailbox?to=cust-1@example.com&limit=1');
    expect(first.items.map((m) => m.to)).toEqual(['cust-1@example.com']);
    const rest = await json<Mail>(`/api/mailbox?to=cust-1@example.com&limit=100&cursor=${first.nextCursor}`);
    const expected = all.items.filter((m) => m.to === 'cust-1@example.com').map((m) => m.emailId);
    expect([...first.items, ...rest.items].map((m) => m.emailId).sort()).toEqual(expected.sort());
    const asAlice = await json<Mail>('/api/mailbox?to=cust-2@example.com', alice);
    expect(asAlice.items.every((m) => m.to === 'cust-1@example.com')).toBe(true);
    expect((await get('/api/mailbox?to=not-an-email')).status).toBe(400);
  });
  type Listed = { orderId: string; status: string; customerEmail?: string | null; createdAt?: string; startedAt?: string };
  type Listing = { items: Listed[]; nextCursor: string | null };
  const everything = async (url: string) => {
    const items: Listed[] = [];
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const page: Listing = await json<Listing>(`${url}${url.includes('?') ? '&' : '?'}limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    }
    return items;
  };

  it('filters the orders list by id prefix, customer email and time window, paged, and refuses a customer filter to customers', async () => {
    const all = await everything('/api/orders');
    expect(all).toHaveLength(ORDERS);
    const ids = (items: Listed[]) => items.map((o) => o.orderId).sort();
    expect(ids(await everything('/api/orders?q=ord-1'))).toEqual(ids(all.filter((o) => o.orderId.startsWith('ord-1'))));
    expect(ids(await everything('/api/orders?q=ord-1'))).toHaveLength(11);
    const cust3 = await everything('/api/orders?customer=CUST-3@example.com');
    expect(ids(cust3)).toEqual(['ord-13', 'ord-23', 'ord-3']);
    expect(cust3.every((o) => o.customerEmail === 'cust-3@example.com')).toBe(true);
    const since = new Date(t0 + 1000).toISOString();
    const until = new Date(t0 + 2000).toISOString();
    const windowed = all.filter((o) => o.createdAt! >= since && o.createdAt! < until);
    expect(windowed.length).toBeGreaterThan(3);
    expect(ids(await everything(`/api/orders?since=${since}&until=${until}`))).toEqual(ids(windowed));
    expect(ids(await everything(`/api/orders?since=${since}&until=${until}&status=confirmed&q=ord-1`))).toEqual(
      ids(windowed.filter((o) => o.status === 'confirmed' && o.orderId.startsWith('ord-1'))),
    );
    // A customer sees their own: the filters narrow them, the customer filter is refused.
    expect(ids((await json<Listing>('/api/orders?q=ord-2&limit=100', alice)).items)).toEqual(['ord-21']);
    expect((await get('/api/orders?customer=cust-2@example.com', alice)).status).toBe(400);
    expect((await get(`/api/orders?since=${until}&until=${since}`)).status).toBe(400);
    expect((await get('/api/orders?since=yesterday')).status).toBe(400);
    expect((await get('/api/orders?q=a%20b')).status).toBe(400);
  });

  it('filters the sagas list by id prefix, customer (with status) and time window, and names each saga\'s customer', async () => {
    const all = await everything('/api/sagas');
    expect(all).toHaveLength(ORDERS);
    expect(all.find((s) => s.orderId === 'ord-7')).toMatchObject({ customerEmail: 'cust-7@example.com' });
    const ids = (items: Listed[]) => items.map((o) => o.orderId).sort();
    expect(ids(await everything('/api/sagas?q=ord-2'))).toEqual(ids(all.filter((s) => s.orderId.startsWith('ord-2'))));
    expect(ids(await everything('/api/sagas?customer=cust-4@example.com'))).toEqual(['ord-14', 'ord-24', 'ord-4']);
    const completed = all.filter((s) => ['ord-14', 'ord-24', 'ord-4'].includes(s.orderId) && s.status === 'completed');
    expect(ids(await everything('/api/sagas?customer=cust-4@example.com&status=completed'))).toEqual(ids(completed));
    const since = new Date(t0 + 500).toISOString();
    const until = new Date(t0 + 1500).toISOString();
    expect(ids(await everything(`/api/sagas?since=${since}&until=${until}`))).toEqual(ids(all.filter((s) => s.startedAt! >= since && s.startedAt! < until)));
    expect((await get('/api/sagas?customer=nobody')).status).toBe(400);
  });

  it('filters the global log by event type, paged by position in both directions', async () => {
    type Log = { events: { type: string; position: string }[]; next: string | null };
    const placed = (await eventStore.readAll({ filter: { eventTypes: ['OrderPlaced'] } })).map((e) => e.position);
    expect(placed).toHaveLength(ORDERS);
    const seen: string[] = [];
    for (let from: string | null = null, first = true; first || from; first = false) {
      const page: Log = await json<Log>(`/api/log?type=OrderPlaced&limit=7${from ? `&from=${from}` : ''}`);
      expect(page.events.every((e) => e.type === 'OrderPlaced')).toBe(true);
      seen.push(...page.events.map((e) => e.position));
      from = page.next;
    }
    expect(seen).toEqual(placed);
    const newest = await json<Log>('/api/log?type=OrderPlaced,OrderCancelled&direction=backwards&limit=5');
    const either = (await eventStore.readAll({ filter: { eventTypes: ['OrderPlaced', 'OrderCancelled'] } })).map((e) => e.position);
    expect(either.length).toBeGreaterThan(ORDERS);
    expect(newest.events.map((e) => e.position)).toEqual(either.slice(-5).reverse());
    expect((await get('/api/log?type=Order%20Placed')).status).toBe(400);
  });
});
