/**
 * The UI at first contact and at volume, in a real browser (playwright-core + Debian's
 * chromium) against the whole system as `npm start` runs it:
 * - a page opened by a non-loopback hostname over plain HTTP renders (no CSP upgrade to https);
 * - index.html is revalidated, assets are immutable, a missing asset is a 404, responses are compressed;
 * - a frontend rebuilt under an open tab recovers by itself (one reload) when a lazy chunk is gone;
 * - a long stream opens at its newest revision and pages back; rebuild progress shows its phases live;
 * - every page at phone size (screenshots in test-output/browser/phone-*.png).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { haveChromium, launchChromium, shots } from './browser.fixture';
import { Client, removeDataDir, startSystem, type RunningSystem } from './harness';

const root = resolve(import.meta.dirname, '..');
const LIVE_MS = 30_000;
const build = (buildId: string) =>
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: join(root, 'frontend'), stdio: 'inherit', env: { ...process.env, BUILD_ID: buildId } });

describe.skipIf(!haveChromium)('the UI at first contact and at volume', () => {
  let system: RunningSystem;
  let browser: Browser;
  let admin: Client;
  let origin: string;
  const pageErrors: string[] = [];

  const newPage = async (viewport = { width: 1360, height: 900 }) => {
    const page = await browser.newPage({ viewport });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return page;
  };
  const signIn = async (page: Page, email: string, password: string) => {
    await page.goto(`${origin}/#/`);
    await page.fill('[data-testid=login-email]', email);
    await page.fill('[data-testid=login-password]', password);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector(`[data-testid=user-email]:has-text("${email}")`);
  };

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    build('first');
    system = await startSystem();
    // The system listens on 127.0.0.1; the browser reaches it by a hostname, as a LAN user would.
    origin = system.baseUrl.replace('127.0.0.1', 'shop.test');
    browser = await launchChromium(['--host-resolver-rules=MAP shop.test 127.0.0.1']);
    admin = await new Client(system.baseUrl).login('admin@example.com', 'admin-password');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    if (system) removeDataDir(system.dataDir);
  });

  it('renders when opened by a non-loopback hostname over plain HTTP', async () => {
    const page = await newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    const res = await page.goto(`${origin}/`);
    expect(res?.headers()['content-security-policy']).not.toContain('upgrade-insecure-requests');
    await page.waitForSelector('[data-testid=login-email]', { timeout: LIVE_MS });
    expect(failed).toEqual([]);
    expect(page.url()).toMatch(/^http:\/\/shop\.test:/);
    await page.screenshot({ path: join(shots, 'scale-01-login-by-hostname.png') });
    await page.close();
  });

  it('revalidates index.html, caches hashed assets for good, 404s a missing asset and compresses', async () => {
    const index = await fetch(`${system.baseUrl}/`, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${system.baseUrl}${script}`, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-encoding')).toMatch(/^(gzip|br)$/);
    const missing = await fetch(`${system.baseUrl}/assets/elk-OLD.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).not.toMatch(/html/);
    // Client routes still get the app.
    expect((await fetch(`${system.baseUrl}/orders/123`)).headers.get('content-type')).toMatch(/html/);
    // JSON too (the machine definition is well past compression's 1 kB threshold).
    const json = await fetch(`${system.baseUrl}/api/saga-definition`, { headers: { 'accept-encoding': 'gzip' } });
    expect(json.headers.get('content-encoding')).toBe('gzip');
  });

  it('recovers an open tab after the frontend is rebuilt: the missing chunk makes it reload once', async () => {
    const page = await newPage();
    let loads = 0;
    page.on('load', () => loads++);
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${origin}/#/shop`);
    await page.waitForSelector('[data-testid=catalog]');
    const loadsBefore = loads;
    // A redeploy: new hashes for every chunk, the old files gone.
    build('second');
    await page.evaluate(() => (window.location.hash = '#/sagas'));
    await page.waitForSelector('[data-testid=saga-chart] .react-flow__node', { timeout: 60_000 });
    expect(loads - loadsBefore).toBe(1);
    expect(await page.isVisible('text=Failed to fetch dynamically imported module')).toBe(false);
    await page.screenshot({ path: join(shots, 'scale-02-recovered-after-rebuild.png') });
    await page.close();
  }, 120_000);

  it('opens a long stream at its newest revision and pages back to older ones', async () => {
    const { body: products } = await admin.request<{ items: { sku: string }[] }>('GET', '/api/products');
    const sku = products.items[0]!.sku;
    // Each restock is one event on inventory-warehouse: well past one page of 100.
    for (let i = 0; i < 150; i++) expect((await admin.request('POST', `/api/admin/products/${sku}/restock`, { quantity: 1 })).status).toBeLessThan(300);
    const { body: newest } = await admin.request<{ revision: number }>('GET', '/api/streams/inventory-warehouse/events?direction=backwards&limit=1');
    expect(newest.revision).toBeGreaterThanOrEqual(150);

    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${origin}/#/events/inventory-warehouse`);
    await page.waitForSelector('[data-testid=tt-state]', { timeout: LIVE_MS });
    expect(Number(await page.textContent('[data-testid=tt-revision]'))).toBe(newest.revision);
    expect(Number(await page.textContent('[data-testid=tt-last]'))).toBe(newest.revision);
    expect(await page.getAttribute('[data-testid=stream-events] li.active button', 'aria-current')).toBe('true');
    // The page header stays in view (no scrolling the whole page to the active row).
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    await page.screenshot({ path: join(shots, 'scale-03-long-stream-newest.png') });

    const loaded = await page.$$eval('[data-testid=stream-events] li', (li) => li.length);
    await page.click('[data-testid=events-older]');
    await expect.poll(() => page.$$eval('[data-testid=stream-events] li', (li) => li.length)).toBeGreaterThan(loaded);
    await page.fill('[data-testid=tt-jump]', '2');
    await page.click('[data-testid=tt-jump-go]');
    await expect.poll(() => page.textContent('[data-testid=tt-revision]')).toBe('2');
    await page.waitForSelector('[data-testid=tt-event-type]');
    // The revision is in the URL: a reload (or a shared link) opens it again.
    expect(page.url()).toContain('rev=2');
    await page.reload();
    await page.waitForSelector('[data-testid=tt-event-type]', { timeout: LIVE_MS });
    expect(await page.textContent('[data-testid=tt-revision]')).toBe('2');
    await page.selectOption('[data-testid=tt-type]', 'ProductRestocked');
    await expect.poll(() => page.$$eval('[data-testid=stream-events] .etype', (els) => [...new Set(els.map((e) => e.textContent))])).toEqual(['ProductRestocked']);
    await page.screenshot({ path: join(shots, 'scale-04-long-stream-filtered.png') });

    // The global log pages by the cursors the server hands out.
    await page.goto(`${origin}/#/events`);
    await page.waitForSelector('[data-testid=log-page] tbody tr');
    const firstPage = await page.$$eval('[data-testid=log-page] tbody tr td:first-child', (td) => td.map((t) => t.textContent));
    await page.click('[data-testid=log-next-page]');
    await expect.poll(() => page.$$eval('[data-testid=log-page] tbody tr td:first-child', (td) => td[0]?.textContent)).not.toBe(firstPage[0]);
    const secondPage = await page.$$eval('[data-testid=log-page] tbody tr td:first-child', (td) => td.map((t) => t.textContent));
    expect(secondPage.some((p) => firstPage.includes(p))).toBe(false);
    // Stream-name search.
    await page.fill('[data-testid=stream-search]', 'inv');
    await expect.poll(() => page.$$eval('[data-testid=streams] li code', (c) => c.map((x) => x.textContent))).toEqual(['inventory-warehouse']);
    await page.close();
  }, 180_000);

  it('shows a rebuild going through its phases live, after a confirm step', async () => {
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${origin}/#/projections`);
    await page.waitForSelector('[data-testid=projection-status-products]');
    await page.waitForSelector('[data-testid=live-state][data-state=open]', { timeout: LIVE_MS });
    await page.click('[data-testid=rebuild-products]');
    await page.waitForSelector('[data-testid=rebuild-confirm-panel-products]');
    await page.click('[data-testid=rebuild-confirm-products]');
    await page.waitForSelector('[data-testid=rebuild-progress-products][data-phase=done]', { timeout: 60_000 });
    // Phases between the start and the end were shown as they happened, not skipped.
    const seen = (await page.getAttribute('[data-testid=rebuild-progress-products] [data-testid=rebuild-phases]', 'data-seen')) ?? '';
    expect(seen.split(' ')).toEqual(expect.arrayContaining(['building', 'verifying', 'done']));
    await page.screenshot({ path: join(shots, 'scale-05-rebuild-done.png') });
    await page.close();
  }, 120_000);

  it('exact saga counts on the heatmap and every page at phone size', async () => {
    const customer = await new Client(system.baseUrl).login('alice@example.com', 'alice-password');
    const { body: products } = await customer.request<{ items: { sku: string; available: number }[] }>('GET', '/api/products');
    const sku = products.items.find((p) => p.available > 5)!.sku;
    const placed = await customer.request<{ orderId: string }>('POST', '/api/orders', { items: [{ sku, quantity: 1 }], payment: { card: '4242424242424242' } });
    expect(placed.status).toBeLessThan(300);
    const orderId = placed.body.orderId;
    await customer.waitFor<{ status: string }>(`/api/sagas/${orderId}`, (s) => s.status !== 'running', LIVE_MS);
    const { body: stats } = await admin.request<{ total: number }>('GET', '/api/saga-stats');
    expect(stats.total).toBeGreaterThanOrEqual(1);

    const page = await newPage({ width: 390, height: 844 });
    await signIn(page, 'admin@example.com', 'admin-password');
    const pages: [string, string, string][] = [
      ['shop', '/shop', '[data-testid=catalog]'],
      ['orders', '/orders', '[data-testid=orders-table]'],
      ['order', `/orders/${encodeURIComponent(orderId)}`, '[data-testid=order-status]'],
      // On a phone the states are a list, not a chart of 4 px text.
      ['sagas', '/sagas', '[data-testid=saga-state-list] li'],
      ['saga', `/sagas/${encodeURIComponent(orderId)}`, '[data-testid=saga-path] tbody tr'],
      ['events', '/events', '[data-testid=log-page] tbody tr'],
      ['stream', `/events/${encodeURIComponent(`order-${orderId}`)}`, '[data-testid=tt-state]'],
      ['projections', '/projections', '[data-testid^=projection-status-]'],
      ['mailbox', '/mailbox', '[data-testid=mail-list] li'],
      ['catalog', '/admin/catalog', '[data-testid=admin-products] tbody tr'],
    ];
    const overflows: Record<string, number> = {};
    for (const [name, hash, ready] of pages) {
      await page.goto(`${origin}/#${hash}`);
      await page.waitForSelector(ready, { timeout: LIVE_MS });
      if (name === 'sagas') expect(Number(await page.textContent('[data-testid=saga-total]'))).toBe(stats.total);
      await page.screenshot({ path: join(shots, `phone-${name}.png`), fullPage: true });
      overflows[name] = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    }
    // Dark mode follows the system setting.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${origin}/#/orders`);
    await page.waitForSelector('[data-testid=orders-table]');
    expect(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim())).toBe('#0f1419');
    await page.screenshot({ path: join(shots, 'phone-orders-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    // No page scrolls sideways on a phone.
    expect(Object.entries(overflows).filter(([, px]) => px > 1)).toEqual([]);
    await page.goto(`${origin}/#/`);
    await page.click('[data-testid=sign-out]');
    await page.waitForSelector('[data-testid=login-email]');
    await page.screenshot({ path: join(shots, 'phone-login.png'), fullPage: true });
    await page.close();
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('says so when the server is down and recovers by itself when it is back', async () => {
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${origin}/#/orders`);
    await page.waitForSelector('[data-testid=live-state][data-state=open]', { timeout: LIVE_MS });
    const port = new URL(system.baseUrl).port;
    const dataDir = system.dataDir;
    await system.stop();
    await page.waitForSelector('[data-testid=offline-banner]', { timeout: LIVE_MS });
    // A page opened while down shows its error, and no one clicks "Try again".
    await page.goto(`${origin}/#/projections`).catch(() => undefined);
    await page.evaluate(() => (window.location.hash = '#/projections'));
    await page.screenshot({ path: join(shots, 'scale-06-server-down.png') });
    system = await startSystem({ dataDir, env: { PORT: port } });
    await page.waitForSelector('[data-testid=offline-banner]', { state: 'detached', timeout: LIVE_MS });
    await page.waitForSelector('[data-testid^=projection-status-]', { timeout: LIVE_MS });
    await page.screenshot({ path: join(shots, 'scale-07-server-back.png') });
    await page.close();
  }, 120_000);
});
