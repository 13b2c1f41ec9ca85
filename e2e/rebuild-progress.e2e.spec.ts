/**
 * Rebuild progress in a real browser (issue 12.4, issue 10.5): on a log of ~48,000 events the
 * projections page shows a confirm step with what the rebuild will read, then intermediate
 * progress values (done < total) while the server keeps answering /healthz, every phase, and
 * the hand-over of the live projector; and the figures agree with each other (done = total at
 * 100%, "caught up" exactly when nothing of its types is left after its position).
 *
 * The log is written before the system starts, and the system runs the gateway, relay and
 * projectors only: the stories are complete (their sagas ended), so nothing else has to act.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser, Page } from 'playwright-core';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { appendStory, customerOrder, orderStory, outcomeOf } from '@saga/projections/projectors/fixtures';
import { haveChromium, launchChromium, shots } from './browser.fixture';
import { Client, removeDataDir, startSystem, type RunningSystem } from './harness';

const root = resolve(import.meta.dirname, '..');
const ORDERS = 4000;

interface Status {
  name: string;
  lag: number;
  behind: number;
  position: string | null;
  headPosition: string | null;
  rebuild: { phase: string; eventsDone: number; total: number | null } | null;
}

describe.skipIf(!haveChromium)('rebuild progress in the browser while the server keeps answering', () => {
  let system: RunningSystem;
  let browser: Browser;
  let page: Page;
  let admin: Client;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    if (!process.env.E2E_SKIP_FRONTEND_BUILD) execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: join(root, 'frontend'), stdio: 'inherit' });
    const dataDir = mkdtempSync(join(tmpdir(), 'saga-e2e-rebuild-'));
    const store = await openSqliteEventStore({ dataDir });
    // The warehouse stream is left out: the gateway seeds its own catalog there, at exact revisions.
    for (let n = 0; n < ORDERS; n++) await appendStory(store, orderStory(customerOrder(n, Date.UTC(2026, 0, 1) + n * 1000), outcomeOf(n)).filter((s) => s.streamId !== 'inventory-warehouse'));
    await store.close();
    system = await startSystem({ dataDir, env: { SERVICES: 'gateway,relay,projector' } });
    admin = await new Client(system.baseUrl).login('admin@example.com', 'admin-password');
    // Everything projected before the rebuild starts.
    await admin.waitFor<{ items: Status[] }>('/api/projections', (b) => b.items.every((p) => p.lag === 0 && p.behind === 0), 170_000);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    if (system) removeDataDir(system.dataDir);
  });

  it('confirms with a count, then shows the rebuild of orders part-way, every phase and the hand-over, with /healthz answering throughout', async () => {
    await page.goto(`${system.baseUrl}/#/`);
    await page.fill('[data-testid=login-email]', 'admin@example.com');
    await page.fill('[data-testid=login-password]', 'admin-password');
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=user-email]');
    await page.goto(`${system.baseUrl}/#/projections`);
    await page.waitForSelector('[data-testid=projection-status-orders]');
    await page.waitForSelector('[data-testid=live-state][data-state=open]', { timeout: 30_000 });
    // Caught up, and said so in words that agree with the numbers.
    expect(await page.getAttribute('[data-testid=projection-lag-orders]', 'data-behind')).toBe('0');
    expect(await page.textContent('[data-testid=projection-lag-orders]')).toMatch(/^caught up/);

    await page.click('[data-testid=rebuild-orders]');
    await page.waitForSelector('[data-testid=rebuild-preview-orders][data-events]');
    const previewEvents = Number(await page.getAttribute('[data-testid=rebuild-preview-orders]', 'data-events'));
    const head = await admin.request<{ items: Status[] }>('GET', '/api/projections?preview=orders');
    expect(previewEvents).toBeGreaterThan(ORDERS * 10);
    expect(await page.textContent('[data-testid=rebuild-preview-orders]')).toContain(previewEvents.toLocaleString('en-US'));
    expect(head.status).toBe(200);
    await page.screenshot({ path: join(shots, 'rebuild-01-confirm.png') });

    // From the click on: the page's progress values as they change, and /healthz timed from here.
    await page.evaluate(() => {
      const w = window as unknown as { seen: { done: number; total: number; phase: string; handover: string | null }[] };
      w.seen = [];
      const look = () => {
        const el = document.querySelector('[data-testid=rebuild-progress-orders]');
        if (el) {
          const v = { done: Number(el.getAttribute('data-done')), total: Number(el.getAttribute('data-total')), phase: el.getAttribute('data-phase') ?? '', handover: el.querySelector('[data-testid=rebuild-handover]')?.getAttribute('data-state') ?? null };
          const last = w.seen[w.seen.length - 1];
          if (!last || last.done !== v.done || last.phase !== v.phase || last.handover !== v.handover) w.seen.push(v);
        }
        requestAnimationFrame(look);
      };
      look();
    });
    const health: number[] = [];
    let rebuilding = true;
    const prober = (async () => {
      while (rebuilding) {
        const start = performance.now();
        const res = await fetch(`${system.baseUrl}/healthz`);
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        health.push(performance.now() - start);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await page.click('[data-testid=rebuild-confirm-orders]');
    let shotMidway = false;
    try {
      await page.waitForFunction(() => {
        const el = document.querySelector('[data-testid=rebuild-progress-orders]');
        return el !== null && el.getAttribute('data-phase') === 'building' && Number(el.getAttribute('data-done')) > 0;
      }, undefined, { timeout: 60_000 });
      await page.screenshot({ path: join(shots, 'rebuild-02-midway.png') });
      shotMidway = true;
      await page.waitForSelector('[data-testid=rebuild-progress-orders][data-phase=done]', { timeout: 120_000 });
    } finally {
      rebuilding = false;
      await prober;
    }
    await page.screenshot({ path: join(shots, 'rebuild-03-done.png') });
    expect(shotMidway).toBe(true);

    const seen = await page.evaluate(() => (window as unknown as { seen: { done: number; total: number; phase: string; handover: string | null }[] }).seen);
    const final = seen.at(-1)!;
    expect(final.phase).toBe('done');
    // At 100% the done count is the total: the same events counted on both sides.
    expect(final.done).toBe(final.total);
    expect(final.total).toBe(previewEvents);
    // Part-way values were shown, not a jump from nothing to the end.
    const partWay = seen.filter((s) => s.phase === 'building' && s.done > 0 && s.done < final.total);
    expect(partWay.length, JSON.stringify(seen)).toBeGreaterThan(0);
    const phases = await page.getAttribute('[data-testid=rebuild-progress-orders] [data-testid=rebuild-phases]', 'data-seen');
    expect((phases ?? '').split(' ')).toEqual(expect.arrayContaining(['building', 'verifying', 'swapping', 'done']));
    expect(await page.getAttribute('[data-testid=rebuild-progress-orders] [data-testid=rebuild-handover]', 'data-state')).toBe('resumed');
    expect(await page.textContent(`[data-testid=rebuild-figures-orders]`)).toContain(`100% · ${final.done.toLocaleString('en-US')} of ${final.total.toLocaleString('en-US')}`);
    // The server answered all along.
    health.sort((a, b) => a - b);
    console.log(`rebuild e2e: /healthz answered ${health.length} times during the rebuild, p50 ${health[Math.floor(health.length / 2)]?.toFixed(1)} ms, max ${health.at(-1)?.toFixed(1)} ms; ${seen.length} distinct progress values shown`);
    expect(health.length).toBeGreaterThan(5);

    // Afterwards: still caught up, and said so.
    await admin.waitFor<{ items: Status[] }>('/api/projections', (b) => b.items.find((p) => p.name === 'orders')!.behind === 0 && b.items.find((p) => p.name === 'orders')!.lag === 0);
  }, 300_000);
});
