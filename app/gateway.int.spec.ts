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
import { openAdapters, type Adapters } from '@saga/platform/adapters';
import { loadConfig } from '@saga/platform/config';
import { createContext, startService, type Stoppable } from './services';

const dirs: string[] = [];
const running: { gateway: Stoppable; adapters: Adapters }[] = [];

async function startGateway(env: Record<string, string>) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
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
}

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

  it('refuses to start on a bind other machines reach while a demo account keeps its published password', async () => {
    // dataDir was seeded on loopback by the first test. The check runs before listening.
    const started = startGateway({ DATA_DIR: dataDir, HOST: '0.0.0.0' });
    await expect(started).rejects.toThrow(/refusing to listen on HOST=0\.0\.0\.0: the demo account alice@example.com still has its published password/);
  });
});
