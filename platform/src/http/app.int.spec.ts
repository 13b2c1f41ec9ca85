import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJwt } from '../auth/jwt';
import { EventValidationError } from '../event-store/port';
import { createMetrics } from '../metrics';
import { createHttpApp, finishApp } from './app';
import { authenticate, requireRole, userOf } from './auth-middleware';
import { startMetricsServer } from './metrics-server';
import { parseWith } from './validate';

const jwt = createJwt({ secret: 'edge-test-secret-0123456789abcdefghij', issuer: 'i', audience: 'a', ttlSeconds: 60 });
const logLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    logLines.push(JSON.parse(String(chunk)));
    done();
  },
});
let server: Server;
let base: string;

beforeAll(async () => {
  const app = createHttpApp({ name: 'edge', logger: pino({ level: 'info' }, sink), metrics: createMetrics('edge') });
  app.get('/boom', () => {
    throw new Error('database password is hunter2');
  });
  app.get('/live', authenticate(jwt, { allowQueryToken: true }), (req, res) => {
    res.json(userOf(req));
  });
  app.get('/header-only', authenticate(jwt), (req, res) => {
    res.json(userOf(req));
  });
  app.post('/admin', authenticate(jwt), requireRole('admin'), (req, res) => {
    res.json(parseWith(z.strictObject({ n: z.int() }), req.body));
  });
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  app.get('/api/me', authenticate(jwt), (req, res) => {
    res.json(userOf(req));
  });
  app.post('/api/echo', (req, res) => {
    res.json(req.body);
  });
  app.post('/api/codes', (req, res) => {
    res.json(parseWith(z.strictObject({ code: z.string().regex(/^[a-z]{3}-secret-[0-9]+$/) }), req.body));
  });
  app.post('/api/record', () => {
    throw new EventValidationError('OrderPlaced', [{ path: ['items', 0, 'internalLedgerCode'], message: 'Too big: expected string to have <=500 characters' }]);
  });
  finishApp(app);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the HTTP edge', () => {
  it('answers an unexpected error with a bare 500 problem; the details go only to the log, with the correlation id', async () => {
    const res = await fetch(`${base}/boom`, { headers: { 'x-correlation-id': 'order-42' } });
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.parse(text)).toEqual({
      type: '/problems/internal',
      title: 'Internal server error',
      status: 500,
      detail: 'an unexpected error occurred; the correlation id identifies it in the logs',
    });
    expect(text).not.toMatch(/hunter2|at .*\.ts/);
    const logged = logLines.find((l) => l.msg === 'unhandled error');
    expect(logged).toMatchObject({ correlationId: 'order-42', err: { message: 'database password is hunter2' } });
  });

  it('replaces an unsafe correlation id with the request id', async () => {
    const res = await fetch(`${base}/healthz`, { headers: { 'x-correlation-id': 'x'.repeat(200) } });
    expect(res.headers.get('x-correlation-id')).toBe(res.headers.get('x-request-id'));
  });

  it('takes ?access_token= only where allowed (SSE), the header everywhere', async () => {
    const token = jwt.sign({ id: 'u1', email: 'u1@example.com', role: 'customer' });
    const live = await fetch(`${base}/live?access_token=${token}`);
    expect([live.status, await live.json()]).toEqual([200, { id: 'u1', email: 'u1@example.com', role: 'customer' }]);
    expect((await fetch(`${base}/header-only?access_token=${token}`)).status).toBe(401);
    const logged = JSON.stringify(logLines.filter((l) => l.msg === 'request'));
    expect(logged).toContain('/live?access_token=[redacted]');
    expect(logged).not.toContain(token);
    expect((await fetch(`${base}/header-only`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('checks the role before reading the body', async () => {
    const token = jwt.sign({ id: 'u1', email: 'u1@example.com', role: 'customer' });
    const res = await fetch(`${base}/admin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"n": 1}',
    });
    expect(res.status).toBe(403);
  });

  it('keeps each app its own metrics registry', async () => {
    const a = createMetrics('a');
    const b = createMetrics('b');
    a.counter('orders_total', 'orders').inc();
    expect(a.counter('orders_total', 'orders')).toBe(a.counter('orders_total', 'orders'));
    expect(await b.render()).not.toContain('orders_total');
    expect(await a.render()).toContain('orders_total{service="a"} 1');
  });
});

/** The log lines written since `from`, and whether any of them carries a stack. */
const linesSince = (from: number) => logLines.slice(from);
const hasStack = (lines: Record<string, unknown>[]) => lines.some((l) => JSON.stringify(l).includes('\\n    at '));

describe('client faults are 4xx problems, not 500s', () => {
  it('answers %ZZ in a path parameter with a 400 problem and logs it without a stack', async () => {
    const from = logLines.length;
    const res = await fetch(`${base}/api/items/%ZZ`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toEqual({
      type: '/problems/bad-request',
      title: 'Bad request',
      status: 400,
      detail: 'a path parameter is not valid percent-encoding',
    });
    expect(linesSince(from).some((l) => l.msg === 'unhandled error')).toBe(false);
    expect(hasStack(linesSince(from))).toBe(false);
    expect((await fetch(`${base}/api/items/a%20b`)).status).toBe(200);
  });

  const corrupt = (packed: Buffer) => {
    const bytes = Buffer.from(packed);
    // Keep the header, garble what follows: the stream starts like one and then fails to inflate.
    for (let i = Math.min(10, bytes.length - 1); i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0x5a;
    return bytes;
  };
  const json = Buffer.from(JSON.stringify({ text: 'x'.repeat(500) }));
  it.each([
    ['gzip', corrupt(gzipSync(json))],
    ['deflate', corrupt(deflateSync(json))],
    ['br', corrupt(brotliCompressSync(json))],
    ['gzip', Buffer.from('not gzip at all')],
  ])('answers a corrupt %s body with a 400 problem and logs no stack', async (encoding, body) => {
    const from = logLines.length;
    const res = await fetch(`${base}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem.type).toMatch(/^\/problems\/(bad-request|malformed-json)$/);
    expect(linesSince(from).some((l) => l.msg === 'unhandled error')).toBe(false);
    expect(hasStack(linesSince(from))).toBe(false);
  });

  it('still inflates a good gzip body', async () => {
    const res = await fetch(`${base}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(json) });
    expect([res.status, ((await res.json()) as { text: string }).text.length]).toEqual([200, 500]);
  });
});

describe('what a 4xx may say and how API answers are cached', () => {
  it.each(['utf-16', 'utf-16le', 'utf-32', 'latin1'])('refuses a JSON body declared as charset=%s with 415', async (charset) => {
    const body = charset.startsWith('utf-16') ? Buffer.from('{"n":1}', 'utf16le') : Buffer.from('{"n":1}');
    const res = await fetch(`${base}/api/echo`, { method: 'POST', headers: { 'content-type': `application/json; charset=${charset}` }, body });
    expect(res.status).toBe(415);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { type: string }).type).toBe('/problems/unsupported-media-type');
  });

  it('takes charset=utf-8 and no charset', async () => {
    for (const type of ['application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/json']) {
      const res = await fetch(`${base}/api/echo`, { method: 'POST', headers: { 'content-type': type }, body: '{"n":1}' });
      expect([type, res.status]).toEqual([type, 200]);
    }
  });

  it('does not quote a schema pattern in a 400', async () => {
    const res = await fetch(`${base}/api/codes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"nope"}' });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text).issues).toEqual([{ path: ['code'], message: 'has an invalid format', code: 'invalid_format' }]);
    expect(text).not.toContain('secret');
  });

  it('answers an event that fails its stored schema with a 400 that names no internal field', async () => {
    const res = await fetch(`${base}/api/record`, { method: 'POST' });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text)).toEqual({ type: '/problems/validation', title: 'Validation failed', status: 400, detail: 'the request cannot be recorded as given' });
    expect(text).not.toMatch(/OrderPlaced|internalLedgerCode|500 characters/);
  });

  it('marks API answers, refusals included, Cache-Control: no-store', async () => {
    const token = jwt.sign({ id: 'u1', email: 'u1@example.com', role: 'customer' });
    const me = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect([me.status, me.headers.get('cache-control')]).toEqual([200, 'no-store']);
    const refused = await fetch(`${base}/api/me`);
    expect([refused.status, refused.headers.get('cache-control')]).toEqual([401, 'no-store']);
    const missing = await fetch(`${base}/api/nothing-here`);
    expect([missing.status, missing.headers.get('cache-control')]).toEqual([404, 'no-store']);
  });
});

describe('/metrics', () => {
  const customer = jwt.sign({ id: 'u1', email: 'u1@example.com', role: 'customer' });
  const admin = jwt.sign({ id: 'a1', email: 'a1@example.com', role: 'admin' });
  async function listen(options: Parameters<typeof createHttpApp>[0]) {
    const app = finishApp(createHttpApp(options));
    const s = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => s.once('listening', resolve));
    return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => s.close(() => r())) };
  }

  it('is for admins only when the app says so', async () => {
    const metrics = createMetrics('guarded');
    const app = await listen({ name: 'guarded', logger: pino({ level: 'silent' }), metrics, metricsAccess: [authenticate(jwt), requireRole('admin')] });
    try {
      expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${customer}` } })).status).toBe(403);
      const ok = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('http_request_duration_seconds');
    } finally {
      await app.close();
    }
  });

  it('can live on its own listener only, the app serving none', async () => {
    const metrics = createMetrics('apart');
    const app = await listen({ name: 'apart', logger: pino({ level: 'silent' }), metrics, metricsAccess: false });
    const scrape = await startMetricsServer({ metrics, host: '127.0.0.1', port: 0 });
    try {
      expect((await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(404);
      await fetch(`${app.url}/healthz`);
      const res = await fetch(`${scrape.url}/metrics`);
      expect([res.status, res.headers.get('cache-control')]).toEqual([200, 'no-store']);
      expect(await res.text()).toContain('route="/healthz"');
      expect((await fetch(`${scrape.url}/other`)).status).toBe(404);
    } finally {
      await scrape.close();
      await app.close();
    }
  });
});
