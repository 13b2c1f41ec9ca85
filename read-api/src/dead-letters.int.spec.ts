import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandTopics } from '@saga/event-schemas/streams';
import { createJwt, type AuthUser } from '@saga/platform/auth/jwt';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { authenticate } from '@saga/platform/http/auth-middleware';
import { createLogger } from '@saga/platform/logging';
import { createMetrics } from '@saga/platform/metrics';
import type { BusMessage, Consumer, MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { deadLetterRoutes } from './dead-letter-routes';
import { startDeadLetterRecorder } from './dead-letters';

const jwt = createJwt({ secret: 'a-test-secret-that-is-long-enough-123', issuer: 'test', audience: 'test', ttlSeconds: 600 });
const admin: AuthUser = { id: 'admin', email: 'admin@example.com', role: 'admin' };
const customer: AuthUser = { id: 'cust-1', email: 'cust-1@example.com', role: 'customer' };
const topic = commandTopics.email;

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('dead-letter routes over a real embedded bus', () => {
  let dir: string;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let recorder: Consumer;
  let worker: Consumer;
  let server: Server;
  let base: string;
  // The worker refuses every message until the "fix" is deployed, then accepts them.
  let fixed = false;
  const handled: BusMessage[] = [];

  const call = (method: string, url: string, user: AuthUser = admin) =>
    fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${jwt.sign(user)}` } });
  type Item = { id: string; key: string; attempts: number; reason: string; message: unknown; firstFailedAt: string; lastFailedAt: string };
  const list = async () => (await (await call('GET', '/api/dead-letters')).json()) as { items: Item[]; nextCursor: string | null };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dead-letters-'));
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    await bus.createTopics([{ name: topic, partitions: 1 }]);
    recorder = await startDeadLetterRecorder({ bus, store: documentStore });
    worker = await bus.consume({
      groupId: 'email-worker',
      topics: [topic],
      retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 1 },
      handler: async (m) => {
        if (!fixed) throw new RangeError(`cannot send ${m.key}`);
        handled.push(m);
      },
    });
    const app = createHttpApp({ name: 'dlq-test', logger: createLogger({ name: 'dlq-test', level: 'silent' }), metrics: createMetrics('dlq-test') });
    app.use(await deadLetterRoutes({ documentStore, bus }, authenticate(jwt)));
    finishApp(app);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await worker?.stop();
    await recorder?.stop();
    await bus?.close();
    await documentStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists, retries, discards, and refuses what it must', async () => {
    await bus.publish(topic, [{ key: 'order-1', value: JSON.stringify({ type: 'SendEmail', orderId: 'order-1' }), headers: { 'x-trace': 't1' } }]);
    await bus.publish(topic, [{ key: 'order-2', value: 'not json' }]);
    const page = await until('two dead letters', async () => {
      const p = await list();
      return p.items.length === 2 ? p : undefined;
    });
    // Newest failure first: order-2 was dead-lettered after order-1 (one partition, in order).
    expect(page.items.map(({ id: _id, firstFailedAt: _f, lastFailedAt: _l, ...rest }) => rest)).toEqual([
      { topic, group: 'email-worker', key: 'order-2', orderId: 'order-2', reason: 'RangeError: cannot send order-2', attempts: 2, message: 'not json' },
      { topic, group: 'email-worker', key: 'order-1', orderId: 'order-1', reason: 'RangeError: cannot send order-1', attempts: 2, message: { type: 'SendEmail', orderId: 'order-1' } },
    ]);
    expect(page.nextCursor).toBeNull();
    const [second, first] = page.items as [Item, Item];
    expect(Date.parse(second.lastFailedAt)).toBeGreaterThanOrEqual(Date.parse(first.lastFailedAt));

    expect((await call('GET', '/api/dead-letters', customer)).status).toBe(403);
    expect((await call('POST', `/api/dead-letters/${first.id}/retry`, customer)).status).toBe(403);
    const unknown = await call('POST', `/api/dead-letters/${'0'.repeat(24)}/retry`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    expect((await call('GET', '/api/dead-letters?cursor=!!')).status).toBe(400);

    fixed = true;
    const retried = await call('POST', `/api/dead-letters/${first.id}/retry`);
    expect(retried.status).toBe(202);
    expect(await retried.json()).toEqual({ id: first.id, status: 'retried' });
    const received = await until('the retried message', async () => handled[0]);
    expect([received.key, received.value, received.headers['x-trace'], received.headers['dlq-error']]).toEqual([
      'order-1',
      JSON.stringify({ type: 'SendEmail', orderId: 'order-1' }),
      't1',
      undefined,
    ]);

    const discarded = await call('POST', `/api/dead-letters/${second.id}/discard`);
    expect(discarded.status).toBe(202);
    expect((await list()).items).toEqual([]);

    for (const [id, action] of [[first.id, 'retry'], [first.id, 'discard'], [second.id, 'retry']] as const) {
      const again = await call('POST', `/api/dead-letters/${id}/${action}`);
      expect(again.status, `${action} ${id}`).toBe(409);
      expect(again.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('a retried message that fails again is a new entry', async () => {
    fixed = false;
    await bus.publish(topic, [{ key: 'order-3', value: '{"n":3}' }]);
    const [entry] = await until('order-3 dead-lettered', async () => {
      const items = (await list()).items;
      return items.length === 1 ? items : undefined;
    });
    expect((await call('POST', `/api/dead-letters/${entry!.id}/retry`)).status).toBe(202);
    const again = await until('order-3 dead-lettered anew', async () => {
      const items = (await list()).items;
      return items.length === 1 && items[0]!.id !== entry!.id ? items[0] : undefined;
    });
    expect([again.key, again.attempts, again.message]).toEqual(['order-3', 2, { n: 3 }]);
  });
});
