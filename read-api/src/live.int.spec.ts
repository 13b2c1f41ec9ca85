import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwt, type AuthUser } from '@saga/platform/auth/jwt';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { authenticate } from '@saga/platform/http/auth-middleware';
import { createMetrics } from '@saga/platform/metrics';
import { appendStory, productStory } from '@saga/projections/projectors/fixtures';
import { openOrderQueries } from '@saga/projections/projectors/orders';
import { openSagaQueries } from '@saga/projections/projectors/sagas';
import { liveRoute, type LiveDeps } from './live';

const secret = 'live-stream-test-secret-0123456789abcdef';
const jwt = createJwt({ secret, issuer: 'test', audience: 'test', ttlSeconds: 600 });
/** Same key, short-lived tokens: what a client holds shortly before its session ends. */
const shortJwt = createJwt({ secret, issuer: 'test', audience: 'test', ttlSeconds: 2 });
const admin: AuthUser = { id: 'admin', email: 'admin@example.com', role: 'admin' };
const alice: AuthUser = { id: 'cust-1', email: 'cust-1@example.com', role: 'customer' };
const bob: AuthUser = { id: 'cust-2', email: 'cust-2@example.com', role: 'customer' };
const carol: AuthUser = { id: 'cust-3', email: 'cust-3@example.com', role: 'customer' };

interface Received {
  event: string;
  id: string | undefined;
  data: unknown;
  at: number;
}

/** An open SSE response, read in the background; `ended` resolves when the server closes it. */
function openStream(res: Response, abort: AbortController) {
  const messages: Received[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const ended = (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return Date.now();
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
          if (fields.event) messages.push({ event: fields.event, id: fields.id, data: fields.data ? JSON.parse(fields.data) : null, at: Date.now() });
        }
      }
    } catch {
      return undefined; // aborted by the test
    }
  })();
  return { messages, ended, close: () => abort.abort() };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GET /api/live: credentials, caps and replay bounds', () => {
  let dir: string;
  let eventStore: EventStore;
  let documentStore: DocumentStore;
  const servers: Server[] = [];
  const logLines: Record<string, unknown>[] = [];
  let sku = 0;
  const appendProducts = (n: number) =>
    appendStory(
      eventStore,
      productStory(
        Array.from({ length: n }, () => ({ sku: `SKU-${++sku}`, name: `Product ${sku}`, price: 100, currency: 'EUR', stock: 5 })),
        Date.parse('2026-01-01T10:00:00.000Z'),
      ),
    );

  async function startLive(options: Partial<LiveDeps> = {}): Promise<string> {
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const app = createHttpApp({ name: 'live-test', logger: pino({ level: 'info' }, sink), metrics: createMetrics('live-test') });
    const deps: LiveDeps = {
      eventStore,
      orders: await openOrderQueries(documentStore),
      sagas: await openSagaQueries(documentStore),
      projectionWaitMs: 50,
      heartbeatMs: 60_000,
      ...options,
    };
    app.use(liveRoute(deps, authenticate(jwt, { allowQueryToken: true })));
    finishApp(app);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const connect = async (url: string, headers: Record<string, string> = {}) => {
    const abort = new AbortController();
    const res = await fetch(url, { headers, signal: abort.signal });
    return { res, abort };
  };
  const stream = async (url: string, headers: Record<string, string> = {}) => {
    const { res, abort } = await connect(url, headers);
    expect(res.status, await (res.status === 200 ? '' : res.clone().text())).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const s = openStream(res, abort);
    await until(() => s.messages.some((m) => m.event === 'ready'), 'ready');
    return s;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    await appendProducts(3);
  });
  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await eventStore?.close();
    await documentStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("ends the stream at the token's expiry: no event is delivered after it", async () => {
    const base = await startLive();
    const token = shortJwt.sign(admin);
    const expiresAt = shortJwt.verifyWithExpiry(token).expiresAt;
    const s = await stream(`${base}/api/live`, bearer(token));
    // Events keep coming before and well past the expiry; each product's append start is noted.
    const appendedAt = new Map<string, number>();
    const writer = (async () => {
      while (Date.now() < expiresAt + 1500) {
        appendedAt.set(`SKU-${sku + 1}`, Date.now());
        await appendProducts(1);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const ended = await Promise.race([s.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), expiresAt - Date.now() + 3000))]);
    await writer;
    s.close();
    // Each product's event arrives as `log` and as `stock`; the latter names the product.
    const logs = s.messages.filter((m) => m.event === 'stock');
    const skuOf = (m: Received) => (m.data as { skus: string[] }).skus[0]!;
    // An event recorded after the expiry (200 ms of slack for a loaded machine's timers) must never arrive.
    const late = logs.filter((m) => (appendedAt.get(skuOf(m)) ?? 0) > expiresAt + 200);
    const afterExpiry = [...appendedAt.values()].filter((t) => t > expiresAt + 200).length;
    console.log('live expiry:', JSON.stringify({ appended: appendedAt.size, appendedAfterExpiry: afterExpiry, delivered: logs.length, deliveredAfterExpiry: late.length, endedMsAfterExpiry: ended === undefined ? null : ended - expiresAt }));
    expect(afterExpiry).toBeGreaterThan(5);
    expect(logs.every((m) => appendedAt.has(skuOf(m)))).toBe(true);
    expect(logs.length).toBeGreaterThan(0);
    expect(late).toEqual([]);
    expect(ended).toBeDefined();
    expect(ended! - expiresAt).toBeLessThan(1000);
    expect(s.messages.at(-1)).toMatchObject({ event: 'expired', data: { reason: 'token expired' } });
  });

  it('opens a stream with a one-use ticket bought with the token, which never goes in the URL', async () => {
    const base = await startLive();
    const bought = await fetch(`${base}/api/live/ticket`, { method: 'POST', headers: bearer(jwt.sign(admin)) });
    expect(bought.status).toBe(201);
    expect(bought.headers.get('cache-control')).toBe('no-store');
    const { ticket, expiresAt } = (await bought.json()) as { ticket: string; expiresAt: string };
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(30_000);

    const s = await stream(`${base}/api/live?ticket=${ticket}`);
    await appendProducts(1);
    await until(() => s.messages.some((m) => m.event === 'log'), 'a log event over the ticketed stream');
    s.close();

    const again = await fetch(`${base}/api/live?ticket=${ticket}`);
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ type: '/problems/unauthorized', detail: 'live stream ticket invalid, used or expired' });
    expect((await fetch(`${base}/api/live?ticket=${'x'.repeat(43)}`)).status).toBe(401);
    expect((await fetch(`${base}/api/live/ticket`, { method: 'POST' })).status).toBe(401);
    expect(JSON.stringify(logLines)).not.toContain(ticket);
  });

  it('refuses a ticket past its 30 s (here 200 ms), and a ticketed stream still ends with its token', async () => {
    const base = await startLive({ ticketTtlMs: 200 });
    const buy = async (token: string) =>
      ((await (await fetch(`${base}/api/live/ticket`, { method: 'POST', headers: bearer(token) })).json()) as { ticket: string }).ticket;
    const stale = await buy(jwt.sign(admin));
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${base}/api/live?ticket=${stale}`)).status).toBe(401);

    const token = shortJwt.sign(admin);
    const expiresAt = shortJwt.verifyWithExpiry(token).expiresAt;
    const s = await stream(`${base}/api/live?ticket=${await buy(token)}`);
    const ended = await Promise.race([s.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), expiresAt - Date.now() + 3000))]);
    s.close();
    expect(ended).toBeDefined();
    expect(ended! - expiresAt).toBeLessThan(1000);
  });

  it('caps open streams per user and in total with a 429 problem, and frees a place when a stream closes', async () => {
    const base = await startLive({ maxStreamsPerUser: 2, maxStreams: 3 });
    const url = `${base}/api/live`;
    const a1 = await stream(url, bearer(jwt.sign(alice)));
    const a2 = await stream(url, bearer(jwt.sign(alice)));
    const a3 = await connect(url, bearer(jwt.sign(alice)));
    expect(a3.res.status).toBe(429);
    expect(a3.res.headers.get('content-type')).toContain('application/problem+json');
    expect(await a3.res.json()).toMatchObject({ type: '/problems/too-many-requests', status: 429, detail: 'at most 2 live streams per user; close one first' });

    const b1 = await stream(url, bearer(jwt.sign(bob)));
    const c1 = await connect(url, bearer(jwt.sign(carol)));
    expect(c1.res.status).toBe(429);
    expect(((await c1.res.json()) as { detail: string }).detail).toMatch(/as many live streams open as it serves/);

    a1.close();
    let reopened: Awaited<ReturnType<typeof connect>> | undefined;
    await until(async () => {
      reopened?.abort.abort();
      reopened = await connect(url, bearer(jwt.sign(carol)));
      return reopened.res.status === 200;
    }, 'a place freed by the closed stream');
    reopened!.abort.abort();
    a2.close();
    b1.close();
  });

  it('replays at most maxReplayEvents on a resume, then says reset with the head as its id and follows live', async () => {
    const base = await startLive({ maxReplayEvents: 5 });
    await appendProducts(15);
    const head = (await eventStore.headPosition())!;
    // Resume after the log's first event: every later one is a replay, far more than 5.
    const [first] = await eventStore.readAll({ limit: 1 });
    const s = await stream(`${base}/api/live`, { ...bearer(jwt.sign(admin)), 'Last-Event-ID': first!.position });
    await until(() => s.messages.some((m) => m.event === 'reset'), 'reset');
    await appendProducts(1);
    // Positions are opaque but compare in log order as strings.
    await until(() => s.messages.some((m) => m.event === 'log' && m.id! > head), 'a live event after the reset');
    s.close();
    const beforeReset = s.messages.slice(0, s.messages.findIndex((m) => m.event === 'reset')).filter((m) => m.event === 'log');
    expect(beforeReset.length).toBe(5);
    expect(s.messages.find((m) => m.event === 'reset')).toMatchObject({ id: head, data: { after: head } });
    const afterReset = s.messages.slice(s.messages.findIndex((m) => m.event === 'reset') + 1).filter((m) => m.event === 'log');
    expect(afterReset.every((m) => m.id! > head)).toBe(true);
  });

  it('replays in full a resume within the bound', async () => {
    const base = await startLive({ maxReplayEvents: 1000 });
    const from = (await eventStore.headPosition())!;
    await appendProducts(3);
    const head = (await eventStore.headPosition())!;
    const expected = (await eventStore.readAll({ after: from })).map((e) => e.position);
    const s = await stream(`${base}/api/live`, { ...bearer(jwt.sign(admin)), 'Last-Event-ID': from });
    await until(() => s.messages.some((m) => m.event === 'log' && m.id === head), 'the replay up to the head');
    s.close();
    expect(s.messages.some((m) => m.event === 'reset')).toBe(false);
    expect(expected.length).toBe(3);
    expect(s.messages.filter((m) => m.event === 'log').map((m) => m.id)).toEqual(expected);
  });
});
