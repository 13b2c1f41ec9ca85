import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJwt } from '../auth/jwt';
import { createMetrics } from '../metrics';
import { createHttpApp, finishApp } from './app';
import { authenticate, requireRole, userOf } from './auth-middleware';
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
