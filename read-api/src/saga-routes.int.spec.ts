import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sagaOperatorTopic } from '@saga/event-schemas/saga';
import { createJwt, type AuthUser } from '@saga/platform/auth/jwt';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { authenticate } from '@saga/platform/http/auth-middleware';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { createLogger } from '@saga/platform/logging';
import { createMetrics } from '@saga/platform/metrics';
import type { BusMessage, Consumer, MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { appendStory, customerOrder, orderStory } from '@saga/projections/projectors/fixtures';
import { openSagaStatsQueries } from '@saga/projections/projectors/saga-stats';
import { sagaOperatorRoutes } from './saga-routes';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const jwt = createJwt({ secret: 'a-test-secret-that-is-long-enough-123', issuer: 'test', audience: 'test', ttlSeconds: 600 });
const admin: AuthUser = { id: 'admin-1', email: 'admin@example.com', role: 'admin' };
const alice: AuthUser = { id: 'cust-1', email: 'cust-1@example.com', role: 'customer' };

describe('saga operator routes: actions, migration, what-if, definitions', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let server: Server;
  let base: string;
  let watcher: Consumer;
  const sent: BusMessage[] = [];

  const post = (url: string, body: unknown, user: AuthUser = admin) =>
    fetch(`${base}${url}`, { method: 'POST', headers: { authorization: `Bearer ${jwt.sign(user)}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-routes-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    const app = createHttpApp({ name: 'saga-routes-test', logger: createLogger({ name: 't', level: 'silent' }), metrics: createMetrics('saga-routes-test') });
    app.use(await sagaOperatorRoutes({ eventStore, bus, sagaStats: await openSagaStatsQueries(documentStore) }, authenticate(jwt)));
    finishApp(app);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    watcher = await bus.consume({ groupId: 'test-operator-watch', topics: [sagaOperatorTopic], handler: async (m) => void sent.push(m) });
    // 'ord-1' waits on its charge (placed, started, reserved, -> chargingPayment); 'ord-2' ran out of stock and ended.
    await appendStory(eventStore, orderStory(customerOrder(1, t0), 'confirmed').slice(0, 4));
    await appendStory(eventStore, orderStory(customerOrder(2, t0), 'out-of-stock'));
    // 'ord-3' started under version 1 (as every saga before versions did), waiting on its charge.
    const v1 = orderStory(customerOrder(3, t0), 'confirmed')
      .slice(0, 4)
      .map((s) => (s.event.type === 'SagaStarted' ? { ...s, event: { ...s.event, data: { ...s.event.data, version: undefined } } } : s)) as ReturnType<typeof orderStory>;
    await appendStory(eventStore, v1);
  });

  afterAll(async () => {
    await watcher?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await bus?.close();
    await documentStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const until = async <T>(probe: () => T | undefined): Promise<T> => {
    for (let i = 0; i < 200; i++) {
      const found = probe();
      if (found !== undefined) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('timed out');
  };

  it('accepts an allowed action (202) and hands it to the saga runtime with the operator and reason', async () => {
    const res = await post('/api/sagas/ord-1/actions', { action: 'compensate', reason: 'provider down' });
    expect(res.status).toBe(202);
    const { requestId } = (await res.json()) as { requestId: string };
    const message = await until(() => sent.find((m) => JSON.parse(m.value).requestId === requestId));
    expect(message.key).toBe('ord-1');
    expect(JSON.parse(message.value)).toMatchObject({ kind: 'action', orderId: 'ord-1', action: 'compensate', operator: 'admin-1', reason: 'provider down' });
  });

  it('refuses with 409 problem+json and the reason what the state does not allow, and sends nothing', async () => {
    const before = sent.length;
    const skip = await post('/api/sagas/ord-1/actions', { action: 'skip-step', reason: 'x' });
    expect(skip.status).toBe(409);
    expect(skip.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await skip.json()) as { detail: string }).detail).toBe(
      'skip-step is not allowed: step chargePayment cannot be skipped: only the emails can, since nothing after them relies on them',
    );
    const ended = await post('/api/sagas/ord-2/actions', { action: 'retry-step', reason: 'x' });
    expect(ended.status).toBe(409);
    await new Promise((r) => setTimeout(r, 100));
    expect(sent.length).toBe(before);
  });

  it('bad input is a 400 (missing, empty or overlong reason, unknown field or action), 404 for no saga, 403 for a customer', async () => {
    for (const body of [{ action: 'compensate' }, { action: 'compensate', reason: '  ' }, { action: 'compensate', reason: 'x'.repeat(501) }, { action: 'compensate', reason: 'x', extra: 1 }, { action: 'undo', reason: 'x' }]) {
      expect((await post('/api/sagas/ord-1/actions', body)).status, JSON.stringify(body).slice(0, 60)).toBe(400);
    }
    expect((await post('/api/sagas/nope/actions', { action: 'compensate', reason: 'x' })).status).toBe(404);
    expect((await post('/api/sagas/ord-1/actions', { action: 'compensate', reason: 'x' }, alice)).status).toBe(403);
  });

  it('migrates a version 1 saga to version 2 where its state maps (202); refuses the rest with the reason (409)', async () => {
    const ok = await post('/api/sagas/ord-3/migrate', { toVersion: 2, reason: 'roll out v2' });
    expect(ok.status).toBe(202);
    const { requestId } = (await ok.json()) as { requestId: string };
    const message = await until(() => sent.find((m) => JSON.parse(m.value).requestId === requestId));
    expect(JSON.parse(message.value)).toMatchObject({ kind: 'migrate', orderId: 'ord-3', toVersion: 2, operator: 'admin-1', reason: 'roll out v2' });
    const same = await post('/api/sagas/ord-1/migrate', { toVersion: 2 });
    expect(same.status).toBe(409);
    expect(((await same.json()) as { detail: string }).detail).toBe('cannot migrate to version 2: the saga runs version 2; it can only move to a newer version');
    const ended = await post('/api/sagas/ord-2/migrate', { toVersion: 3 });
    expect(((await ended.json()) as { detail: string }).detail).toBe('cannot migrate to version 3: there is no saga definition version 3 (known: 1, 2)');
    expect((await post('/api/sagas/ord-3/migrate', { toVersion: 'two' })).status).toBe(400);
  });

  it('what-if: the recorded path against another version, and against a table given as data', async () => {
    const res = await post('/api/sagas/ord-2/what-if', { version: 1 });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { original: { state: string }[]; replayed: { state: string }[]; divergesAt: number | null; commands: { type: string }[] };
    expect(answer.original.map((p) => p.state)).toEqual(['reservingStock', 'rejectingOrder', 'sendingRejectionEmail', 'rejected']);
    expect(answer.replayed).toEqual(answer.original);
    expect(answer.divergesAt).toBeNull();
    expect(answer.commands.map((c) => c.type)).toEqual(['ReserveStock', 'RejectOrder', 'SendEmail']);
    const bad = await post('/api/sagas/ord-2/what-if', { definition: { steps: [{ step: 'nope', compensation: null, onTimeout: 'retry', retriesBeforeFail: 0, lateSuccess: null, pivot: false, skippable: false }] } });
    expect(bad.status).toBe(400);
    expect((await post('/api/sagas/ord-2/what-if', { version: 9 })).status).toBe(404);
    expect((await post('/api/sagas/ord-2/what-if', { version: 1, definition: {} })).status).toBe(400);
  });

  it('lists the definition versions with their hash, step table and running count', async () => {
    const res = await fetch(`${base}/api/saga-definitions`, { headers: { authorization: `Bearer ${jwt.sign(admin)}` } });
    const { items } = (await res.json()) as { items: { version: number; hash: string; createdAt: string; steps: { step: string; retriesBeforeFail: number }[]; running: number }[] };
    expect(items.map((i) => i.version)).toEqual([1, 2]);
    expect(items.every((i) => /^[0-9a-f]{64}$/.test(i.hash))).toBe(true);
    expect(items[1]!.steps.find((s) => s.step === 'chargePayment')!.retriesBeforeFail).toBe(1);
    // No projector runs here: the counts are the saga-stats projection's, empty.
    expect(items.map((i) => i.running)).toEqual([0, 0]);
  });
});
