/**
 * Lists that scale, the readable statechart and the operator's tools, in a real browser
 * (playwright-core + Debian's chromium) against the whole system as `npm start` runs it:
 * - orders and sagas filtered server-side by id, customer email, status and time; a customer column;
 *   times shown local, UTC or relative; the global log filtered by event type and opened at a position;
 * - the statechart at 1440x900: labels of 11 px or more, the side panel docked beside it, chart nodes
 *   focusable (Enter replays to the step that entered the state), the step in the URL; a step list on a phone;
 * - the saga as data (issue 14): a stuck saga retried, a compensation, a migration, a what-if that parts;
 *   each runs where the server has the route and is skipped, saying which route is missing, where not.
 * Screenshots, desktop and phone, in test-output/browser/op-*.png.
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
const APPROVE = '4242424242424242';
const DECLINE = '4000000000000002';
/** Issue 14's card whose provider never answers: the payment command is dead-lettered. */
const UNREACHABLE = '4000000000000341';

type Saga = { orderId: string; status: string; state: string; version?: number; stuck?: unknown; history: { operator?: { id: string; action: string; reason: string } }[] };

describe.skipIf(!haveChromium)('lists, the statechart and the operator in a browser', () => {
  let system: RunningSystem;
  let browser: Browser;
  let admin: Client;
  let alice: Client;
  let bob: Client;
  let sku: string;
  const orders: { orderId: string; who: 'alice' | 'bob'; card: string }[] = [];
  const pageErrors: string[] = [];

  const newPage = async (viewport = { width: 1440, height: 900 }) => {
    const page = await browser.newPage({ viewport });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return page;
  };
  const signIn = async (page: Page, email: string, password: string) => {
    await page.goto(`${system.baseUrl}/#/`);
    await page.fill('[data-testid=login-email]', email);
    await page.fill('[data-testid=login-password]', password);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector(`[data-testid=user-email]:has-text("${email}")`);
  };
  const place = async (who: 'alice' | 'bob', card: string) => {
    const client = who === 'alice' ? alice : bob;
    const res = await client.request<{ orderId: string }>('POST', '/api/orders', { items: [{ sku, quantity: 1 }], payment: { card } }, { 'Idempotency-Key': crypto.randomUUID() });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    orders.push({ orderId: res.body.orderId, who, card });
    return res.body.orderId;
  };
  const settled = (orderId: string) => admin.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.status !== 'running', LIVE_MS);
  /** Whether the server has a route of issue 14: a 404 with "no route" or "not found" for the path itself. */
  const hasRoute = async (method: string, path: string, body?: unknown) => {
    const res = await admin.request(method, path, body);
    return res.status !== 404 || !/Cannot|no route|not found: (GET|POST)/i.test(JSON.stringify(res.body ?? ''));
  };

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    if (!process.env.E2E_SKIP_FRONTEND_BUILD) execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: join(root, 'frontend'), stdio: 'inherit' });
    // Steps wait two minutes before they time out, so a saga waiting on the unreachable provider
    // is still waiting when the operator acts on it.
    // Every test signs in afresh, admin and customers alike: more logins from one IP than the default limit allows
    // (the limits have their own tests in auth.int.spec.ts).
    system = await startSystem({ env: { SAGA_STEP_TIMEOUT_MS: '120000', LOGIN_LIMIT_PER_IP: '500', LOGIN_LIMIT_PER_ACCOUNT: '500' } });
    browser = await launchChromium();
    admin = await new Client(system.baseUrl).login('admin@example.com', 'admin-password');
    alice = await new Client(system.baseUrl).login('alice@example.com', 'alice-password');
    const registered = await new Client(system.baseUrl).request('POST', '/api/auth/register', { email: 'bob@example.com', password: 'bob-has-a-long-password-42', name: 'Bob' });
    expect(registered.status, JSON.stringify(registered.body)).toBeLessThan(300);
    bob = await new Client(system.baseUrl).login('bob@example.com', 'bob-has-a-long-password-42');
    const { body: products } = await alice.request<{ items: { sku: string; available: number }[] }>('GET', '/api/products');
    sku = products.items.sort((a, b) => b.available - a.available)[0]!.sku;
    for (const [who, card] of [['alice', APPROVE], ['bob', APPROVE], ['alice', DECLINE], ['bob', DECLINE], ['alice', APPROVE]] as const) await settled(await place(who, card));
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    if (system) removeDataDir(system.dataDir);
  });

  it('filters orders and sagas on the server by customer, id, status and time, and shows times as chosen', async () => {
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${system.baseUrl}/#/orders`);
    await page.waitForSelector('[data-testid=orders-table] tbody tr');
    const rowIds = () => page.$$eval('[data-testid^=order-row-]', (rows) => rows.map((r) => r.getAttribute('data-testid')!.replace('order-row-', '')).sort());
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(orders.map((o) => o.orderId).sort());
    // The customer column; a click on a customer filters by their email (on the server: the URL says so).
    const bobs = orders.filter((o) => o.who === 'bob').map((o) => o.orderId).sort();
    const asked: string[] = [];
    page.on('request', (r) => r.url().includes('/api/orders?') && asked.push(r.url()));
    await page.click(`[data-testid=order-customer-${bobs[0]}]`);
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(bobs);
    expect(asked.some((u) => u.includes('customer=bob%40example.com'))).toBe(true);
    await page.selectOption('[data-testid=orders-filter-status]', 'rejected');
    const bobRejected = orders.filter((o) => o.who === 'bob' && o.card === DECLINE).map((o) => o.orderId);
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(bobRejected);
    await page.screenshot({ path: join(shots, 'op-01-orders-filtered.png'), fullPage: true });
    await page.click('[data-testid=orders-filter-clear]');
    const one = orders[2]!.orderId;
    await page.fill('[data-testid=orders-filter-q]', one.slice(0, 13));
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(orders.filter((o) => o.orderId.startsWith(one.slice(0, 13))).map((o) => o.orderId));
    await page.fill('[data-testid=orders-filter-q]', '');
    // A time window that ended before these orders: nothing; the last hour: all of them.
    await page.selectOption('[data-testid=orders-filter-window]', 'custom');
    await page.fill('[data-testid=orders-filter-since]', '2020-01-01T00:00');
    await page.fill('[data-testid=orders-filter-until]', '2020-01-02T00:00');
    await page.waitForSelector('text=No orders match these filters.');
    await page.selectOption('[data-testid=orders-filter-window]', '1h');
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(orders.map((o) => o.orderId).sort());
    // Times: local by default, UTC with the date when chosen, relative too.
    await page.selectOption('[data-testid=time-mode]', 'utc');
    await expect.poll(() => page.textContent('[data-testid=orders-table] tbody time'), { timeout: LIVE_MS }).toMatch(/UTC$/);
    await page.selectOption('[data-testid=time-mode]', 'relative');
    await expect.poll(() => page.textContent('[data-testid=orders-table] tbody time'), { timeout: LIVE_MS }).toMatch(/ago|now|second|minute/);
    await page.selectOption('[data-testid=time-mode]', 'local');

    await page.goto(`${system.baseUrl}/#/sagas`);
    await page.waitForSelector('[data-testid=saga-instances] li');
    await page.fill('[data-testid=saga-filter-customer]', 'alice@example.com');
    const alices = orders.filter((o) => o.who === 'alice').map((o) => o.orderId).sort();
    const sagaIds = () => page.$$eval('[data-testid^=saga-instance-]', (els) => els.map((e) => e.getAttribute('data-testid')!.replace('saga-instance-', '')).sort());
    await expect.poll(sagaIds, { timeout: LIVE_MS }).toEqual(alices);
    await page.selectOption('[data-testid=saga-filter-status]', 'rejected');
    await expect.poll(sagaIds, { timeout: LIVE_MS }).toEqual(orders.filter((o) => o.who === 'alice' && o.card === DECLINE).map((o) => o.orderId));
    await page.screenshot({ path: join(shots, 'op-02-sagas-filtered.png'), fullPage: true });
    await page.close();
  }, 120_000);

  it('filters the global log by event type and opens it at a position', async () => {
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${system.baseUrl}/#/events`);
    await page.waitForSelector('[data-testid=log-page] tbody tr');
    await page.fill('[data-testid=log-type-filter]', 'OrderPlaced');
    const types = () => page.$$eval('[data-testid=log-event-type]', (els) => els.map((e) => e.textContent));
    await expect.poll(types, { timeout: LIVE_MS }).toEqual(orders.map(() => 'OrderPlaced'));
    await page.fill('[data-testid=log-type-filter]', '');
    // The filter lifts once the typing pauses: every type is back.
    await expect.poll(async () => (await types()).some((t) => t !== 'OrderPlaced'), { timeout: LIVE_MS }).toBe(true);
    const { body } = await admin.request<{ events: { position: string; type: string }[] }>('GET', '/api/log?limit=5');
    await page.click('[data-testid=log-oldest]');
    await page.fill('[data-testid=log-jump]', body.events[3]!.position);
    await page.click('[data-testid=log-jump-go]');
    await expect.poll(() => page.textContent('[data-testid=log-page] tbody tr td'), { timeout: LIVE_MS }).toBe(body.events[3]!.position);
    await page.screenshot({ path: join(shots, 'op-03-log-filtered.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('draws the statechart readable at 1440x900 with the side panel docked, nodes focusable, the step in the URL', async () => {
    const rejected = orders.find((o) => o.card === DECLINE)!.orderId;
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${system.baseUrl}/#/sagas/${encodeURIComponent(rejected)}`);
    await page.waitForSelector('[data-testid=saga-chart] .react-flow__node', { timeout: LIVE_MS });
    await page.waitForSelector('[data-testid=saga-path] tbody tr');
    await page.waitForTimeout(300);
    // On-screen size of the labels: their font size times the chart's zoom.
    const sizes = await page.evaluate(() => {
      const m = /matrix\(([^,]+)/.exec(getComputedStyle(document.querySelector('.react-flow__viewport')!).transform);
      const zoom = m ? Number(m[1]) : 1;
      const px = (sel: string) => Math.min(...[...document.querySelectorAll(sel)].map((e) => parseFloat(getComputedStyle(e).fontSize))) * zoom;
      return { zoom, node: px('.saga-node-label'), meta: px('.saga-node-meta'), edge: px('.saga-edge-label') };
    });
    expect(sizes.node, JSON.stringify(sizes)).toBeGreaterThanOrEqual(11);
    expect(sizes.meta, JSON.stringify(sizes)).toBeGreaterThanOrEqual(11);
    expect(sizes.edge, JSON.stringify(sizes)).toBeGreaterThanOrEqual(11);
    // Docked: the replay panel beside the chart, its controls within the first screen.
    const chart = (await page.locator('[data-testid=saga-chart]').boundingBox())!;
    const panel = (await page.locator('[data-testid=saga-replay]').boundingBox())!;
    expect(panel.x).toBeGreaterThanOrEqual(chart.x + chart.width - 1);
    expect((await page.locator('[data-testid=replay-next]').boundingBox())!.y).toBeLessThan(900);
    expect(chart.height).toBeGreaterThan(600);
    await page.waitForSelector('[data-testid=saga-step-event-json]');
    await page.screenshot({ path: join(shots, 'op-04-saga-desktop.png') });

    // Enter on a focused node replays to the step that entered it; the step goes into the URL.
    const saga = (await admin.request<{ history: { from: string | null; to: string }[] }>('GET', `/api/sagas/${rejected}`)).body;
    const moves = saga.history.filter((h) => h.from !== null);
    const target = moves[0]!.to;
    await page.focus(`.react-flow__node[data-id="${target}"]`);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('[data-testid=replay-status]'), { timeout: LIVE_MS }).toContain(`Step 1 of ${moves.length}`);
    expect(page.url()).toContain('step=1');
    expect(await page.getAttribute(`.react-flow__node[data-id="${target}"]`, 'tabindex')).toBe('0');
    expect(await page.$$eval('.react-flow__edge[tabindex="0"]', (els) => els.length)).toBe(0);
    // ← → step, space plays.
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.textContent('[data-testid=replay-status]'), { timeout: LIVE_MS }).toContain(`Step 2 of ${moves.length}`);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.textContent('[data-testid=replay-status]'), { timeout: LIVE_MS }).toContain(`Step 1 of ${moves.length}`);
    await page.screenshot({ path: join(shots, 'op-05-saga-step-1.png') });
    await page.reload();
    await page.waitForSelector('[data-testid=saga-chart] .react-flow__node', { timeout: LIVE_MS });
    await expect.poll(() => page.textContent('[data-testid=replay-status]'), { timeout: LIVE_MS }).toContain(`Step 1 of ${moves.length}`);
    await page.close();

    // A phone gets the instance's steps as a list, each one a button into the replay.
    const phone = await newPage({ width: 390, height: 844 });
    await signIn(phone, 'admin@example.com', 'admin-password');
    await phone.goto(`${system.baseUrl}/#/sagas/${encodeURIComponent(rejected)}`);
    await phone.waitForSelector('[data-testid=saga-step-list] li', { timeout: LIVE_MS });
    expect(await phone.$$eval('[data-testid=saga-step-list] > li', (els) => els.length)).toBe(moves.length + 1);
    await phone.click('[data-testid=saga-step-1]');
    await expect.poll(() => phone.textContent('[data-testid=replay-status]'), { timeout: LIVE_MS }).toContain(`Step 1 of ${moves.length}`);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(1);
    await phone.screenshot({ path: join(shots, 'op-06-phone-saga.png'), fullPage: true });
    await phone.close();
  }, 120_000);

  it('shows the operator page at desktop and phone size', async () => {
    for (const [name, viewport] of [
      ['desktop', { width: 1440, height: 900 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      const page = await newPage(viewport);
      await signIn(page, 'admin@example.com', 'admin-password');
      await page.goto(`${system.baseUrl}/#/operator`);
      await page.waitForSelector('[data-testid=operator-dead-letters]');
      await page.waitForSelector('[data-testid=operator-dead-letters] .empty, [data-testid=operator-dead-letters] [data-testid^=dead-letter-]');
      await page.screenshot({ path: join(shots, `op-07-operator-${name}.png`), fullPage: true });
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(1);
      await page.close();
    }
  }, 60_000);

  it('retries a stuck saga from its page (test card 4000000000000341) and the dead letter from the operator page', async (ctx) => {
    if (!(await hasRoute('POST', '/api/sagas/x/actions', { action: 'retry-step', reason: 'probe' }))) {
      console.warn('skipped: the server has no POST /api/sagas/:orderId/actions (issue 14 backend not merged)');
      ctx.skip();
    }
    const orderId = await place('alice', UNREACHABLE);
    // The payment command goes to the dead-letter list with its order id, and the saga says it is stuck.
    await admin.waitFor<{ items: { orderId: string | null }[] }>('/api/dead-letters?limit=100', (p) => p.items.some((d) => d.orderId === orderId), 90_000);
    const stuck = await admin.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => !!s.stuck, 60_000);
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${system.baseUrl}/#/operator`);
    await page.waitForSelector(`[data-testid=operator-dead-letters] [data-order-id="${orderId}"]`, { timeout: LIVE_MS });
    await page.waitForSelector(`[data-testid=operator-saga-${orderId}] .badge-stuck`, { timeout: LIVE_MS });
    await page.screenshot({ path: join(shots, 'op-08-operator-dead-letter.png'), fullPage: true });
    await page.click(`[data-testid=operator-saga-${orderId}] a`);
    await page.waitForSelector('[data-testid=saga-stuck]', { timeout: LIVE_MS });
    await page.fill('[data-testid=action-reason]', 'provider is back');
    await page.click('[data-testid=action-retry-step]');
    await page.waitForSelector('[data-testid=action-result]', { timeout: LIVE_MS });
    // The action is an input of the saga: its history grows by it, and the charge is sent again.
    const after = await admin.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.history.length > stuck.history.length, LIVE_MS);
    expect(after.history.slice(stuck.history.length).map((h) => h.operator)).toContainEqual(expect.objectContaining({ action: 'retry-step', reason: 'provider is back' }));
    await page.waitForSelector('[data-testid^=saga-path-operator-]', { timeout: LIVE_MS });
    await page.screenshot({ path: join(shots, 'op-09-saga-retried.png'), fullPage: true });
    // The dead letter itself, retried from the saga's panel: redelivered (it fails again and is listed anew).
    await page.waitForSelector('[data-testid=saga-dead-letters] [data-testid^=dead-letter-retry-]', { timeout: LIVE_MS });
    await page.click('[data-testid=saga-dead-letters] [data-testid^=dead-letter-retry-]');
    await page.waitForSelector('[data-testid=saga-dead-letters] [data-testid^=dead-letter-outcome-]:has-text("retried")', { timeout: LIVE_MS });
    await page.close();
  }, 240_000);

  it('compensates a running saga as an operator action', async (ctx) => {
    if (!(await hasRoute('POST', '/api/sagas/x/actions', { action: 'compensate', reason: 'probe' }))) {
      console.warn('skipped: the server has no POST /api/sagas/:orderId/actions (issue 14 backend not merged)');
      ctx.skip();
    }
    // A saga that waits (the unreachable provider), so compensation is allowed.
    const orderId = await place('bob', UNREACHABLE);
    await admin.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.history.length >= 2, LIVE_MS);
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${system.baseUrl}/#/sagas/${encodeURIComponent(orderId)}`);
    await page.waitForSelector('[data-testid=saga-operator]', { timeout: LIVE_MS });
    await page.fill('[data-testid=action-reason]', 'customer asked on the phone');
    await page.click('[data-testid=action-compensate]');
    await page.click('[data-testid=action-confirm-compensate]');
    await page.waitForSelector('[data-testid=action-result]', { timeout: LIVE_MS });
    const ended = await admin.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.status !== 'running', 60_000);
    expect(ended.status).not.toBe('completed');
    await page.waitForSelector(`[data-testid=saga-instance-status][data-status=${ended.status}]`, { timeout: LIVE_MS });
    await page.screenshot({ path: join(shots, 'op-10-saga-compensated.png'), fullPage: true });
    await page.close();
  }, 120_000);

  it('migrates a saga to a newer version, or shows why not', async (ctx) => {
    const defs = await admin.request<{ items: { version: number }[] }>('GET', '/api/saga-definitions');
    if (defs.status !== 200) {
      console.warn(`skipped: GET /api/saga-definitions answers ${defs.status} (issue 14 backend not merged)`);
      ctx.skip();
    }
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    const orderId = await place('alice', UNREACHABLE);
    await admin.waitFor<Saga>(`/api/sagas/${orderId}`, (s) => s.history.length >= 2, LIVE_MS);
    await page.goto(`${system.baseUrl}/#/sagas/${encodeURIComponent(orderId)}`);
    await page.waitForSelector('[data-testid=saga-version]', { timeout: LIVE_MS });
    const saga = (await admin.request<Saga>('GET', `/api/sagas/${orderId}`)).body;
    expect(await page.textContent('[data-testid=saga-version]')).toBe(`v${saga.version}`);
    if (!defs.body.items.some((d) => d.version > (saga.version ?? 0))) {
      // One version only: the panel says there is nothing newer, and the route refuses a migration to itself.
      await page.waitForSelector('[data-testid=migrate-none]');
      const res = await admin.request('POST', `/api/sagas/${orderId}/migrate`, { toVersion: saga.version });
      expect([400, 409]).toContain(res.status);
    } else {
      await page.click('[data-testid=migrate-submit]');
      await page.waitForSelector('[data-testid=migrate-result], [data-testid=saga-operator] [data-testid=problem]', { timeout: LIVE_MS });
    }
    await page.screenshot({ path: join(shots, 'op-11-saga-migrate.png'), fullPage: true });
    await page.close();
  }, 120_000);

  it('replays a saga against another definition and shows where the paths part', async (ctx) => {
    const rejected = orders.find((o) => o.card === DECLINE)!.orderId;
    if (!(await hasRoute('POST', `/api/sagas/${rejected}/what-if`, { version: 1 }))) {
      console.warn('skipped: the server has no POST /api/sagas/:orderId/what-if (issue 14 backend not merged)');
      ctx.skip();
    }
    const saga = (await admin.request<Saga>('GET', `/api/sagas/${rejected}`)).body;
    // A table that parts from the record: the stock reservation has no undo, so a failed charge
    // rejects straight away (the rows as GET /api/saga-definition gives them, one compensation dropped).
    const { body: definition } = await admin.request<{ steps: { step: string; compensation?: string | null }[] }>('GET', `/api/saga-definition?version=${saga.version ?? 1}`);
    const changed = { steps: definition.steps.map((r) => (r.step === 'reserveStock' ? { ...r, compensation: null } : r)) };
    const page = await newPage();
    await signIn(page, 'admin@example.com', 'admin-password');
    await page.goto(`${system.baseUrl}/#/sagas/${encodeURIComponent(rejected)}`);
    await page.waitForSelector('[data-testid=whatif]', { timeout: LIVE_MS });
    // Against its own version: the same path.
    await page.click('[data-testid=whatif-run]');
    await page.waitForSelector('[data-testid=whatif-diverges]', { timeout: LIVE_MS });
    expect(await page.getAttribute('[data-testid=whatif-diverges]', 'data-diverges-at')).toBe('');
    await page.selectOption('[data-testid=whatif-version]', 'paste');
    await page.fill('[data-testid=whatif-definition]', JSON.stringify(changed));
    await page.click('[data-testid=whatif-run]');
    await expect.poll(() => page.getAttribute('[data-testid=whatif-diverges]', 'data-diverges-at'), { timeout: LIVE_MS }).toBe('2');
    expect(await page.textContent('[data-testid=whatif-paths] tbody tr:nth-child(3)')).toMatch(/releasingStock.*rejectingOrder/);
    // Both paths on the chart: the replay's nodes marked, the state where it goes instead named.
    await page.waitForSelector('.saga-node.diverge-replayed[data-testid=saga-node-rejectingOrder]');
    await page.waitForSelector('.saga-node.diverge-original[data-testid=saga-node-releasingStock]');
    await expect.poll(() => page.textContent('[data-testid=replay-status]'), { timeout: LIVE_MS }).toContain('Step 2 of');
    await page.waitForSelector('.saga-node.whatif');
    await page.screenshot({ path: join(shots, 'op-12-saga-what-if.png') });
    await page.close();
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
