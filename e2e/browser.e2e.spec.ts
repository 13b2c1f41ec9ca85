/**
 * The four user tasks in a real browser (playwright-core driving Debian's chromium) against
 * the whole system started as `npm start` starts it, on a temporary data directory:
 * place an order and see it confirmed live; a declined card ends rejected with the stock
 * back; open that saga in the visualiser and replay it; time-travel a stream; rebuild a
 * projection and watch the progress reach the end. Screenshots of each page go to
 * test-output/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { haveChromium, launchChromium, shots } from './browser.fixture';
import { removeDataDir, startSystem, type RunningSystem } from './harness';

const root = resolve(import.meta.dirname, '..');
const LIVE_MS = 30_000;

describe.skipIf(!haveChromium)('the app in a browser', () => {
  let system: RunningSystem;
  let browser: Browser;
  let page: Page;
  let sku: string;
  let confirmedOrderId: string;
  let rejectedOrderId: string;
  const pageErrors: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };
  const go = async (hash: string) => {
    await page.goto(`${system.baseUrl}/#${hash}`);
  };
  const availableOf = async (s: string) => Number(await page.getAttribute(`[data-testid=stock-${s}]`, 'data-available'));
  const orderIdFromUrl = () => decodeURIComponent(new URL(page.url()).hash.replace('#/orders/', ''));

  const signIn = async (email: string, password: string) => {
    await go('/');
    if (await page.isVisible('[data-testid=sign-out]')) await page.click('[data-testid=sign-out]');
    await page.fill('[data-testid=login-email]', email);
    await page.fill('[data-testid=login-password]', password);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector(`[data-testid=user-email]:has-text("${email}")`);
  };

  const checkout = async (card: 'approved' | 'declined') => {
    await go('/shop');
    await page.click(`[data-testid=add-${sku}]`);
    await page.click(`[data-testid=card-${card}]`);
    await page.click('[data-testid=place-order]');
    await page.waitForURL(/#\/orders\/.+/);
    return orderIdFromUrl();
  };

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    // The gateway serves frontend/dist; build it so the test drives the current UI.
    if (!process.env.E2E_SKIP_FRONTEND_BUILD) execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: join(root, 'frontend'), stdio: 'inherit' });
    system = await startSystem();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    if (system) removeDataDir(system.dataDir);
  });

  it('logs in and places an order that turns confirmed live', async () => {
    await go('/');
    await shot('01-login');
    await signIn('alice@example.com', 'alice-password');
    await page.waitForSelector('[data-testid=catalog] [data-testid^=stock-]');
    await shot('02-shop');
    // A product with stock to spare, so both orders below can reserve it.
    sku = await page.$$eval('[data-testid^=stock-]', (els) => {
      const el = els.find((e) => Number(e.getAttribute('data-available')) >= 2);
      return el ? el.getAttribute('data-testid')!.replace('stock-', '') : '';
    });
    expect(sku, 'the demo catalog has a product with stock').not.toBe('');

    // The status below must arrive over the live stream (the page only polls when it is down).
    await page.waitForSelector('[data-testid=live-state][data-state=open]', { timeout: LIVE_MS });
    confirmedOrderId = await checkout('approved');
    // No reload: the status changes on the page as the saga runs (server-sent events).
    await page.waitForSelector('[data-testid=order-status][data-status=confirmed]', { timeout: LIVE_MS });
    await page.waitForSelector('[data-testid=saga-status][data-status=completed]', { timeout: LIVE_MS });
    await shot('03-order-confirmed');

    await go('/orders');
    await page.waitForSelector(`[data-testid=order-status-${confirmedOrderId}][data-status=confirmed]`);
    await shot('04-my-orders');
  });

  it('ends a declined card rejected and gives the stock back', async () => {
    await go('/shop');
    await page.waitForSelector(`[data-testid=stock-${sku}]`);
    const before = await availableOf(sku);

    rejectedOrderId = await checkout('declined');
    await page.waitForSelector('[data-testid=order-status][data-status=rejected]', { timeout: LIVE_MS });
    await page.waitForSelector('[data-testid=saga-status][data-status=rejected]', { timeout: LIVE_MS });
    await shot('05-order-rejected');

    await go('/shop');
    await page.waitForFunction(
      ([s, n]) => Number(document.querySelector(`[data-testid=stock-${s}]`)?.getAttribute('data-available')) === n,
      [sku, before] as const,
      { timeout: LIVE_MS },
    );
    expect(await availableOf(sku)).toBe(before);
  });

  it('opens the rejected saga in the visualiser and replays its path', async () => {
    await go(`/orders/${encodeURIComponent(rejectedOrderId)}`);
    await page.click('[data-testid=open-saga]');
    await page.waitForSelector('[data-testid=saga-chart] .react-flow__node', { timeout: LIVE_MS });
    await page.waitForSelector('[data-testid=saga-path] tbody tr');
    const steps = await page.$$eval('[data-testid=saga-path] tbody tr', (rows) => rows.length);
    expect(steps).toBeGreaterThanOrEqual(2);
    const finalState = await page.getAttribute('[data-testid=saga-chart]', 'data-current-state');
    expect(finalState).toBe(await page.textContent('[data-testid=saga-instance-state]'));
    await expect.poll(() => page.$$eval('[data-current=true]', (els) => els.length)).toBe(1);
    await shot('06-saga-visualiser');

    await page.click('[data-testid=replay-prev]');
    await expect.poll(() => page.getAttribute('[data-testid=saga-chart]', 'data-current-state')).not.toBe(finalState);
    expect(await page.textContent('[data-testid=replay-status]')).toContain(`Step ${steps - 1} of ${steps}`);
    await page.click('[data-testid=replay-next]');
    await expect.poll(() => page.getAttribute('[data-testid=saga-chart]', 'data-current-state')).toBe(finalState);
    // The keyboard steps too: ← goes one back, End to the last.
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.textContent('[data-testid=replay-status]')).toContain(`Step ${steps - 1} of ${steps}`);
    // The replay step is in the URL: a reload opens the same step.
    expect(page.url()).toContain(`step=${steps - 1}`);
    await page.reload();
    await page.waitForSelector('[data-testid=saga-chart] .react-flow__node', { timeout: LIVE_MS });
    await expect.poll(() => page.textContent('[data-testid=replay-status]')).toContain(`Step ${steps - 1} of ${steps}`);
    await page.keyboard.press('End');
    await expect.poll(() => page.getAttribute('[data-testid=saga-chart]', 'data-current-state')).toBe(finalState);
  });

  it('time-travels the order stream revision by revision', async () => {
    await go(`/events/${encodeURIComponent(`order-${rejectedOrderId}`)}`);
    await page.waitForSelector('[data-testid=stream-events] li');
    await page.waitForSelector('[data-testid=tt-state]');
    const last = Number(await page.textContent('[data-testid=tt-revision]'));
    expect(last).toBeGreaterThanOrEqual(1);
    const lastState = await page.textContent('[data-testid=tt-state]');
    await shot('07-stream-latest');

    await page.click('[data-testid=tt-prev]');
    await expect.poll(() => page.textContent('[data-testid=tt-revision]')).toBe(String(last - 1));
    await expect.poll(() => page.textContent('[data-testid=tt-state]')).not.toBe(lastState);
    await page.waitForSelector('[data-testid=tt-changes] table, [data-testid=tt-changes] .empty');
    await shot('08-stream-time-travel');
  });

  it('rebuilds a projection as admin with the progress reaching the end', async () => {
    await signIn('admin@example.com', 'admin-password');
    // The global log and the stream list are admin views.
    await go('/events');
    await page.waitForSelector('[data-testid=live-log] .log-line');
    await page.waitForSelector('[data-testid=streams] li');
    await shot('09-event-explorer');

    await go('/projections');
    await page.waitForSelector('[data-testid^=projection-status-]');
    const name = await page.$eval('[data-testid^=projection-status-]', (el) => el.getAttribute('data-testid')!.replace('projection-status-', ''));
    await shot('10-projections');
    await page.click(`[data-testid=rebuild-${name}]`);
    // A confirm step first: nothing starts until it is confirmed.
    await page.waitForSelector(`[data-testid=rebuild-confirm-panel-${name}]`);
    await shot('10b-rebuild-confirm');
    await page.click(`[data-testid=rebuild-confirm-${name}]`);
    await page.waitForSelector(`[data-testid=rebuild-progress-${name}]`, { timeout: LIVE_MS });
    // The rebuilt copy is swapped in (phase done) with every event of the log read.
    await page.waitForFunction(
      (n) => {
        const el = document.querySelector(`[data-testid=rebuild-progress-${n}]`);
        return el?.getAttribute('data-phase') === 'done' && Number(el.getAttribute('data-done')) >= Number(el.getAttribute('data-total'));
      },
      name,
      { timeout: 60_000 },
    );
    expect(await page.getAttribute(`[data-testid=rebuild-bar-${name}] [role=progressbar]`, 'aria-valuenow')).toBe(
      await page.getAttribute(`[data-testid=rebuild-bar-${name}] [role=progressbar]`, 'aria-valuemax'),
    );
    await page.waitForSelector(`[data-testid=projection-notes-${name}]`);
    await shot('11-projection-rebuilt');

    // Re-publish the first events of the log to one consumer group, from and to positions the
    // log handed out (opaque cursors, copied as shown, never counted).
    const login = await fetch(`${system.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@example.com', password: 'admin-password' }),
    });
    const { token } = (await login.json()) as { token: string };
    const first5 = (await (await fetch(`${system.baseUrl}/api/log?limit=5`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      events: { position: string }[];
    };
    await page.fill('[data-testid=replay] input[name=fromPosition]', first5.events[0]!.position);
    await page.fill('[data-testid=replay] input[name=toPosition]', first5.events[4]!.position);
    await page.click('[data-testid=replay-submit]');
    await expect.poll(() => page.textContent('[data-testid=replay-result]'), { timeout: LIVE_MS }).toContain('Published 5 events');
    await shot('11b-replay');

    await go('/mailbox');
    await page.waitForSelector('[data-testid=mail-list] li', { timeout: LIVE_MS });
    await shot('12-mailbox');
    await go('/admin/catalog');
    await page.waitForSelector('[data-testid=admin-products] tbody tr');
    await shot('13-catalog-admin');
    expect(pageErrors).toEqual([]);
  });
});
