import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { startEmbeddedStack, testCards as cards } from './embedded-stack.fixture';
import { killOrchestrator as kill, startOrchestrator as start } from './orchestrator-child.fixture';

/**
 * The orchestrator in a process of its own, SIGKILLed again and again while orders flow through
 * every real service (in this process) on a shared embedded data directory. Afterwards the
 * design's invariants must hold: every saga ended, stock and money balance, no command applied
 * twice.
 */
const stepTimeoutMs = 1_500;
const leaseTtlMs = 600;
const kills = Number(process.env.SAGA_CRASH_KILLS ?? 8);
const orders = Number(process.env.SAGA_CRASH_ORDERS ?? 60);
const initialStock = Math.floor(orders * 0.7);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const startOrchestrator = (dataDir: string) => start(dataDir, { stepTimeoutMs, leaseTtlMs });

describe('orchestrator killed with SIGKILL at many points under load', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-crash-'));
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('every saga ends, stock and money balance, no command applied twice', async () => {
    const stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, leaseTtlMs, fastRetries: true });
    const { store, inventory, order, gateway } = stack;
    cleanup.push(() => stack.close());
    await inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: initialStock });

    let child = await startOrchestrator(dataDir);
    cleanup.push(() => kill(child));

    // Load: orders with a mix of cards, some cancelled by their customer mid-saga.
    const placed: string[] = [];
    const load = (async () => {
      for (let i = 0; i < orders; i++) {
        const card = i % 10 === 3 ? cards.decline : i % 10 === 5 ? cards.flaky : i % 15 === 7 ? cards.late : cards.approve;
        const orderId = await stack.place({ orderId: `crash-${i}`, card, items: [{ sku: 'MUG-001', quantity: 1 }] });
        placed.push(orderId);
        if (i % 7 === 2) {
          setTimeout(() => {
            order.requestCancellation({ orderId, actor: { userId: `cust-${orderId}`, role: 'customer' } }).catch(() => undefined);
          }, 30);
        }
        await sleep(15);
      }
    })();

    // Kill and restart the orchestrator at varied points while the load runs and after.
    for (let k = 0; k < kills; k++) {
      await sleep(120 + ((k * 97) % 300));
      await kill(child);
      child = await startOrchestrator(dataDir);
    }
    await load;

    // Let everything finish: every saga ended and nothing more moving for a while.
    const deadline = Date.now() + 90_000;
    let settledAt = 0;
    let lastHead: LogPosition | null = null;
    for (;;) {
      const endedCount = (await store.readAll({ filter: { eventTypes: ['SagaEnded'] } })).length;
      const head = await store.headPosition();
      if (endedCount === orders && head === lastHead) {
        if (settledAt === 0) settledAt = Date.now();
        if (Date.now() - settledAt > stepTimeoutMs * 3) break;
      } else settledAt = 0;
      lastHead = head;
      if (Date.now() > deadline) throw new Error(`not settled: ${endedCount}/${orders} sagas ended`);
      await sleep(200);
    }

    const all = await store.readAll();
    const ofType = (type: string) => all.filter((e) => e.type === type);
    const byOrder = (e: RecordedEvent) => (e.data as { orderId?: string }).orderId ?? '';

    // Every saga ended, with the order's own ending matching it.
    const endings = new Map(ofType('SagaEnded').map((e) => [byOrder(e), (e.data as { status: string }).status]));
    expect(endings.size).toBe(orders);
    const orderEnding = new Map<string, string>();
    for (const [type, status] of [['OrderConfirmed', 'completed'], ['OrderRejected', 'rejected'], ['OrderCancelled', 'cancelled']] as const) {
      for (const e of ofType(type)) {
        expect(orderEnding.has(byOrder(e)), `order ${byOrder(e)} ended twice`).toBe(false);
        orderEnding.set(byOrder(e), status);
      }
    }
    expect(Object.fromEntries(orderEnding)).toEqual(Object.fromEntries(endings));

    // No command applied twice: each command id caused each event type at most once, and no
    // order was reserved, released, committed, captured or refunded twice.
    const causes = new Map<string, number>();
    const notFromSagaCommands = ['OrderPlaced', 'OrderCancellationRequested', 'ProductAdded', 'ProductRestocked'];
    for (const e of all) {
      if (e.streamId.startsWith('saga-') || notFromSagaCommands.includes(e.type)) continue;
      const key = `${e.metadata.causationId}/${e.type}`;
      causes.set(key, (causes.get(key) ?? 0) + 1);
    }
    expect([...causes].filter(([, n]) => n > 1)).toEqual([]);
    for (const type of ['StockReserved', 'StockReleased', 'StockCommitted', 'PaymentCaptured', 'PaymentRefunded']) {
      const counts = new Map<string, number>();
      for (const e of ofType(type)) counts.set(byOrder(e), (counts.get(byOrder(e)) ?? 0) + 1);
      expect([...counts].filter(([, n]) => n > 1), type).toEqual([]);
    }

    // Stock: initial + restocked - sold = available + reserved, nothing left reserved.
    const state = await inventory.snapshot();
    if (state.status !== 'stocked') throw new Error('no inventory');
    const mug = state.products.get('MUG-001')!;
    const sold = ofType('StockCommitted').length;
    expect({ available: mug.available, reserved: mug.reserved, sold: mug.sold }).toEqual({
      available: initialStock - sold,
      reserved: 0,
      sold,
    });
    expect(sold).toBe([...endings.values()].filter((s) => s === 'completed').length);

    // Money: captured - refunded = totals of confirmed orders.
    const sum = (type: string) => ofType(type).reduce((n, e) => n + (e.data as { amount: number }).amount, 0);
    const confirmedTotal = ofType('OrderPlaced')
      .filter((e) => endings.get(byOrder(e)) === 'completed')
      .reduce((n, e) => n + (e.data as { total: number }).total, 0);
    expect(sum('PaymentCaptured') - sum('PaymentRefunded')).toBe(confirmedTotal);
    expect(gateway.ledger().captured - gateway.ledger().refunded).toBe(confirmedTotal);

    const outcomes = [...endings.values()].reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});
    console.info(`crash test: ${kills} kills, ${orders} orders, outcomes ${JSON.stringify(outcomes)}`);
    expect(outcomes.completed ?? 0).toBeGreaterThan(0);
    expect(outcomes.rejected ?? 0).toBeGreaterThan(0);
    expect(outcomes.cancelled ?? 0).toBeGreaterThan(0);
  });
});
