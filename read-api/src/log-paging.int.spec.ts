import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { createJwt, type AuthUser } from '@saga/platform/auth/jwt';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { createLogger } from '@saga/platform/logging';
import { createMetrics } from '@saga/platform/metrics';
import type { MessageBus, OutgoingMessage } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { appendStory, customerOrder, demoCatalog, orderStory, outcomeOf, productStory } from '@saga/projections/projectors/fixtures';
import { createRebuildService } from '@saga/projections/rebuild/service';
// The live log's own client code, speaking HTTP to this server as the browser does.
import { createApi } from '../../frontend/src/api';
import { createReadApi } from './read-api';
import { republishRange } from './replay/republish';

/**
 * Positions are opaque, sparse cursors (the SQLite store scales its rowids), so a caller that
 * computes one (`last.position + 1`, `head - 49`) is refused here as on EventStoreDB.
 */
const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const jwt = createJwt({ secret: 'a-test-secret-that-is-long-enough-123', issuer: 'test', audience: 'test', ttlSeconds: 600 });
const admin: AuthUser = { id: 'admin', email: 'admin@example.com', role: 'admin' };

describe('global log positions as cursors: /api/log, replay, live resume', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let server: Server;
  let base: string;
  let log: RecordedEvent[];
  /** Every publish to a replay topic, as the bus was asked to make it. */
  const published: { topic: string; messages: OutgoingMessage[] }[] = [];

  const get = (url: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${url}`, { headers: { authorization: `Bearer ${jwt.sign(admin)}`, ...headers } });
  const json = async (url: string) => {
    const res = await get(url);
    expect(res.status, url).toBe(200);
    return (await res.json()) as { events: RecordedEvent[]; head: LogPosition | null; next: LogPosition | null };
  };
  const post = (url: string, body: unknown) =>
    fetch(`${base}${url}`, { method: 'POST', headers: { authorization: `Bearer ${jwt.sign(admin)}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-paging-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    const realBus = await openSqliteMessageBus({ dataDir: dir });
    bus = new Proxy(realBus, {
      get(target, property) {
        if (property === 'publish')
          return async (topic: string, messages: OutgoingMessage[]) => {
            published.push({ topic, messages });
            return target.publish(topic, messages);
          };
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    const rebuilds = createRebuildService({ eventStore, documentStore, projections: [] });
    const app = createHttpApp({ name: 'log-paging-test', logger: createLogger({ name: 'log-paging-test', level: 'silent' }), metrics: createMetrics('log-paging-test') });
    app.use(await createReadApi({ jwt, documentStore, eventStore, bus, rebuilds, live: { heartbeatMs: 60_000 } }));
    finishApp(app);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await appendStory(eventStore, productStory(demoCatalog(20), t0));
    for (let n = 0; n < 6; n++) await appendStory(eventStore, orderStory(customerOrder(n, t0 + n * 100), outcomeOf(n)));
    log = await eventStore.readAll();
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await bus.close();
    await documentStore.close();
    await eventStore.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pages /api/log to page 3 and beyond by passing next back unchanged, every event once, in order', async () => {
    expect(log.length).toBeGreaterThan(3 * 7);
    const pages: RecordedEvent[][] = [];
    let page = await json('/api/log?limit=7');
    pages.push(page.events);
    while (page.next !== null) {
      page = await json(`/api/log?limit=7&from=${encodeURIComponent(page.next)}`);
      pages.push(page.events);
    }
    expect(pages.length).toBeGreaterThanOrEqual(4);
    expect(pages.flat().map((e) => e.eventId)).toEqual(log.map((e) => e.eventId));
    expect(page.head).toBe(log.at(-1)!.position);
    // The exclusive form: after the last position of a page.
    const after = await json(`/api/log?limit=7&after=${encodeURIComponent(pages[1]!.at(-1)!.position)}`);
    expect(after.events).toEqual(pages[2]);
  });

  it('reads the latest events backwards, the live log backfill, without computing a position', async () => {
    const latest = await json('/api/log?direction=backwards&limit=5');
    expect(latest.events.map((e) => e.eventId)).toEqual(log.slice(-5).reverse().map((e) => e.eventId));
    expect(latest.next).toBe(log.at(-6)!.position);
    const older = await json(`/api/log?direction=backwards&limit=5&from=${encodeURIComponent(latest.next!)}`);
    expect(older.events.map((e) => e.eventId)).toEqual(log.slice(-10, -5).reverse().map((e) => e.eventId));
  });

  it('backfills the live log with its latest events through the frontend client, oldest first', async () => {
    const api = createApi({ token: () => jwt.sign(admin), fetch: (input, init) => fetch(`${base}${String(input)}`, init) });
    const latest = await api.latestLog(50);
    expect(log.length).toBeGreaterThan(50);
    expect(latest.map((e) => e.position)).toEqual(log.slice(-50).map((e) => e.position));
    // Each backfilled line's SSE id is its position, so live messages that overlap it are told apart.
    expect(new Set(latest.map((e) => e.position)).size).toBe(50);
  });

  it('answers a position that is not an event with 400 problem+json on that parameter, never 500', async () => {
    const p = log[3]!.position;
    const forged = [`${p}1`, String(Number(p) + 1), String(Number(p) - 1).padStart(p.length, '0'), '0', '99999999999999999990'];
    for (const position of forged) {
      for (const param of ['from', 'after']) {
        const res = await get(`/api/log?${param}=${encodeURIComponent(position)}`);
        expect(res.status, `${param}=${position}`).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        const problem = (await res.json()) as { issues: { path: string[] }[] };
        expect(problem.issues[0]!.path).toEqual([param]);
      }
    }
    expect((await get(`/api/log?from=${encodeURIComponent(p)}&after=${encodeURIComponent(p)}`)).status).toBe(400);
    expect((await get('/api/log?after=%24gt')).status).toBe(400);

    for (const [field, body] of [
      ['fromPosition', { groupId: 'g', fromPosition: `${p}1` }],
      ['toPosition', { groupId: 'g', fromPosition: p, toPosition: String(Number(log.at(-1)!.position) + 1) }],
      ['fromPosition', { groupId: 'g', fromPosition: 3 }],
    ] as const) {
      const res = await post('/api/replay', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { issues: { path: string[] }[] }).issues[0]!.path).toEqual([field]);
    }

    const live = await get('/api/live', { 'Last-Event-ID': `${p}1`, accept: 'text/event-stream' });
    expect(live.status).toBe(400);
    expect(live.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await get(`/api/live?lastEventId=${encodeURIComponent(String(Number(p) + 1))}`)).status).toBe(400);
    expect(published).toEqual([]);
  });

  it('re-publishes a range across several pages, exactly that range, and counts its limit in events', async () => {
    published.length = 0;
    const [from, to] = [log[2]!, log[log.length - 3]!];
    const result = await republishRange({ eventStore, bus }, { groupId: 'g', fromPosition: from.position, toPosition: to.position }, { maxEvents: 1000, pageSize: 4 });
    const range = log.slice(2, log.length - 2);
    expect(result).toEqual({ groupId: 'g', topic: 'replay.g', fromPosition: from.position, toPosition: to.position, published: range.length });
    expect(published.length).toBeGreaterThanOrEqual(3);
    expect(published.flatMap((p) => p.messages.map((m) => (JSON.parse(m.value) as RecordedEvent).eventId))).toEqual(range.map((e) => e.eventId));

    // A range of more events than allowed is refused before anything goes out.
    published.length = 0;
    const tooLong = republishRange({ eventStore, bus }, { groupId: 'g', fromPosition: from.position }, { maxEvents: 10, pageSize: 4 });
    await expect(tooLong).rejects.toMatchObject({ status: 400, message: 'a replay covers at most 10 events' });
    expect(published).toEqual([]);
    // Exactly the limit is fine, however many bytes or positions it spans.
    const ten = await republishRange({ eventStore, bus }, { groupId: 'g', fromPosition: from.position, toPosition: log[11]!.position }, { maxEvents: 10, pageSize: 4 });
    expect(ten.published).toBe(10);
  });

  it('replays over HTTP with the positions the log handed out, head by default', async () => {
    published.length = 0;
    const res = await post('/api/replay', { groupId: 'g2', fromPosition: log[5]!.position });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      groupId: 'g2',
      topic: 'replay.g2',
      fromPosition: log[5]!.position,
      toPosition: log.at(-1)!.position,
      published: log.length - 5,
      mode: 'topic',
    });
  });
});
