/**
 * The gateway as `npm start` wires it (embedded adapters in a temp DATA_DIR), in this process:
 * who may read /metrics, where it listens and what it says about the demo users at start.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Sku } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import { openAdapters, type Adapters } from '@saga/platform/adapters';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { loadConfig } from '@saga/platform/config';
import { createContext, startService, type Stoppable } from './services';

const dirs: string[] = [];
const running: { gateway: Stoppable; adapters: Adapters }[] = [];

/** Starts the gateway; `lines` fills with its log lines while `started` is pending. */
function beginGateway(env: Record<string, string>) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const started = (async () => {
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'info', JWT_SECRET: 'gateway-test-secret-0123456789abcdefgh', ...env });
    const adapters = await openAdapters(config, 'gateway-test');
    try {
      const [gateway] = await startService('gateway', createContext(config, adapters, pino({ level: 'info' }, sink)));
      running.push({ gateway: gateway!, adapters });
      return { url: gateway!.url!, lines };
    } catch (error) {
      await adapters.close();
      throw Object.assign(error as Error, { lines });
    }
  })();
  return { lines, started };
}

const startGateway = (env: Record<string, string>) => beginGateway(env).started;

const login = async (base: string, email: string, password: string) => {
  const res = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let dataDir: string;
beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-'));
  dirs.push(dataDir);
});
afterAll(async () => {
  for (const { gateway, adapters } of running.splice(0)) {
    await gateway.stop();
    await adapters.close();
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the gateway', () => {
  it('listens on 127.0.0.1 by default, seeds the demo there and says so at start', async () => {
    const { url, lines } = await startGateway({ DATA_DIR: dataDir });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'demo users with published passwords are seeded; HOST=127.0.0.1 is reachable from this machine only',
        `gateway listening on ${url}`,
      ]),
    );
    expect(lines.find((l) => l.msg === `gateway listening on ${url}`)).toMatchObject({ host: '127.0.0.1', metrics: 'GET /metrics on the gateway, admin token required' });
  });

  it('serves /metrics to admins only', async () => {
    const { url } = running[0]!.gateway;
    const noToken = await fetch(`${url}/metrics`);
    expect([noToken.status, noToken.headers.get('content-type')]).toEqual([401, expect.stringContaining('application/problem+json')]);
    expect((await fetch(`${url}/metrics`, { headers: bearer(await login(url!, 'alice@example.com', 'alice-password')) })).status).toBe(403);
    const admin = await fetch(`${url}/metrics`, { headers: bearer(await login(url!, 'admin@example.com', 'admin-password')) });
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('http_request_duration_seconds');
  });

  it('serves /metrics only on METRICS_HOST:METRICS_PORT when that is set', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-metrics-'));
    dirs.push(dir);
    const { url, lines } = await startGateway({ DATA_DIR: dir, METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' });
    const metricsUrl = String(lines.find((l) => l.msg === `gateway listening on ${url}`)?.metrics);
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const admin = await login(url, 'admin@example.com', 'admin-password');
    expect((await fetch(`${url}/metrics`, { headers: bearer(admin) })).status).toBe(404);
    const scraped = await fetch(metricsUrl);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('route="/api/auth/login"');
  });

  it('answers /healthz while the seeding folds a long warehouse stream, and holds a login until the demo users exist', async () => {
    // A warehouse stream with no snapshot (a log imported, or the read models' file deleted):
    // the seeding's catalog check folds all of it before the demo products can be added.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-long-'));
    dirs.push(dir);
    const store = await openSqliteEventStore({ dataDir: dir });
    const warehouse = streamIdFor.inventory();
    const meta = { correlationId: 'bulk', causationId: 'bulk' };
    const sku = Sku.parse('BULK-001');
    await store.append(warehouse, [{ eventId: randomUUID(), type: 'ProductAdded', data: { sku, name: 'Bulk', price: 100, currency: 'EUR', stock: 1 }, metadata: meta }]);
    for (let batch = 0; batch < 40; batch++) {
      const events = Array.from({ length: 5_000 }, () => ({ eventId: randomUUID(), type: 'ProductRestocked' as const, data: { sku, quantity: 1 }, metadata: meta }));
      await store.append(warehouse, events);
    }
    await store.close();

    const began = performance.now();
    const { lines, started } = beginGateway({ DATA_DIR: dir });
    let done: number | undefined;
    void started.then(() => (done = performance.now()), () => undefined);
    const listening = async () => {
      for (;;) {
        const line = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('gateway listening on '));
        if (line) return String(line.msg).slice('gateway listening on '.length);
        if (done !== undefined) throw new Error('started without saying where it listens');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    const url = await listening();
    const health = await fetch(`${url}/healthz`);
    const healthyAt = performance.now();
    expect(health.status).toBe(200);
    // Sent before the seeding has ended: it waits for it, and finds the demo user.
    const loginSent = performance.now();
    const stillSeeding = done === undefined;
    const login = fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'alice@example.com', password: 'alice-password' }) });
    await started;
    expect((await login).status).toBe(200);
    expect(stillSeeding, `/healthz answered ${(healthyAt - began).toFixed(0)} ms after the start began; the start took ${(done! - began).toFixed(0)} ms`).toBe(true);
    expect(healthyAt).toBeLessThan(done!);
    expect(loginSent).toBeLessThan(done!);
    expect(lines.map((l) => l.msg)).toContain('seeded demo users and catalog');
  });

  it('refuses to start on a bind other machines reach while a demo account keeps its published password', async () => {
    // dataDir was seeded on loopback by the first test. The check runs before listening.
    const started = startGateway({ DATA_DIR: dataDir, HOST: '0.0.0.0' });
    await expect(started).rejects.toThrow(/refusing to listen on HOST=0\.0\.0\.0: the demo account alice@example.com still has its published password/);
  });
});
