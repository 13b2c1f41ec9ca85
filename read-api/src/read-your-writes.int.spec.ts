/**
 * Read your writes: `placeOrder` answers 202 with the order's Location before any projector has
 * seen it. A read of that Location waits for the read model instead of calling a placed order
 * "not found"; an order that is not in the log, or not the reader's, is a 404 at once; and a read
 * model that stays behind past the bound answers 503 with Retry-After.
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
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
import { appendStory, customerOrder, orderStory } from '@saga/projections/projectors/fixtures';
import { openOrderQueries, ordersProjection, type OrderQueries } from '@saga/projections/projectors/orders';
import { createProjectorRunner, type ProjectorRunner } from '@saga/projections/projectors/runner';
import { createRebuildService } from '@saga/projections/rebuild/service';
import { startRelay, type Relay } from '@saga/projections/relay/relay';
import { createReadApi } from './read-api';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const jwt = createJwt({ secret: 'a-test-secret-that-is-long-enough-123', issuer: 'test', audience: 'test', ttlSeconds: 600 });
// customerOrder(n) belongs to cust-(n % 10).
const owner: AuthUser = { id: 'cust-1', email: 'cust-1@example.com', role: 'customer' };
const other: AuthUser = { id: 'cust-2', email: 'cust-2@example.com', role: 'customer' };
const admin: AuthUser = { id: 'admin', email: 'admin@example.com', role: 'admin' };

describe('reading an order just placed', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let relay: Relay;
  let runner: ProjectorRunner;
  let orders: OrderQueries;
  const servers: Server[] = [];

  /** A query API on the shared stores, with the orders runner in this process or none. */
  const serve = async (opts: { runners: ProjectorRunner[]; orderCatchUpMs?: number }) => {
    const rebuilds = createRebuildService({ eventStore, documentStore, projections: [ordersProjection], liveOf: () => undefined });
    const app = createHttpApp({ name: 'ryw-test', logger: createLogger({ name: 'ryw-test', level: 'silent' }), metrics: createMetrics('ryw-test') });
    app.use(await createReadApi({ jwt, documentStore, eventStore, bus, rebuilds, runners: opts.runners, projections: [ordersProjection], ...(opts.orderCatchUpMs === undefined ? {} : { orderCatchUpMs: opts.orderCatchUpMs }) }));
    finishApp(app);
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return (url: string, user: AuthUser) => fetch(`${base}${url}`, { headers: { authorization: `Bearer ${jwt.sign(user)}` } });
  };
  /** Only the placement: the order's first event, as `placeOrder` appends it. */
  const place = (n: number) => appendStory(eventStore, orderStory(customerOrder(n, t0), 'confirmed').filter((s) => s.event.type === 'OrderPlaced'));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-your-writes-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    relay = await startRelay({ store: eventStore, bus });
    runner = createProjectorRunner({ bus, store: documentStore, projection: ordersProjection });
    orders = await openOrderQueries(documentStore);
  });

  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    await runner?.stop();
    await relay?.stop();
    await bus?.close();
    await documentStore?.close();
    await eventStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('waits for the projector, 404s what is not there or not yours, and 503s a read model that stays behind', async () => {
    const get = await serve({ runners: [runner] });
    await place(1);
    expect(await orders.get('ord-1')).toBeNull();

    // The orders projector is not running: the read waits for it, and it starts 300 ms later.
    const reading = get('/api/orders/ord-1', owner);
    const adminReading = get('/api/orders/ord-1', admin);
    await new Promise((r) => setTimeout(r, 300));
    expect(await orders.get('ord-1')).toBeNull();
    await runner.start();
    const res = await reading;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ orderId: 'ord-1', customerId: 'cust-1', status: 'pending' });
    expect((await adminReading).status).toBe(200);

    // Placed, but another customer's: not found, and at once (no wait for a read model).
    await runner.stop();
    await place(11);
    const started = Date.now();
    const foreign = await get('/api/orders/ord-11', other);
    expect(foreign.status).toBe(404);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await get('/api/orders/ord-404', owner)).status).toBe(404);

    // Placed and the reader's, but the read model does not catch up within the bound: a 503 to retry.
    const impatient = await serve({ runners: [], orderCatchUpMs: 200 });
    const behind = await impatient('/api/orders/ord-11', owner);
    expect(behind.status).toBe(503);
    expect(behind.headers.get('retry-after')).toBe('1');
    expect(behind.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await behind.json()).toMatchObject({ status: 503, detail: expect.stringContaining('not caught up') });
  });
});
