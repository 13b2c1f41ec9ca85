import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { streamIdFor } from '@saga/event-schemas/streams';
import { startEmbeddedStack, testCards } from './embedded-stack.fixture';
import { killOrchestrator, startOrchestrator } from './orchestrator-child.fixture';
import { stackProbes, until } from './stack-probes.fixture';

/**
 * Issue 11, item 2: replies recorded before their deadline must not lose to the timer. The
 * orchestrator is SIGKILLed while every saga waits for its payment; the payment service then
 * captures every charge well before the deadline; the orchestrator comes back after the
 * deadlines have passed and takes its bus partitions back only once the dead process's lease
 * has expired. Its timers are overdue the moment it starts, but every capture was recorded in
 * time: every order must complete, none be compensated as timed out.
 */
const stepTimeoutMs = 2_000;
// Long enough that the restarted orchestrator's consumer waits well past its first timer tick.
const leaseTtlMs = 3_000;
const orders = 8;

describe('orchestrator killed while replies are in flight, restarted after their deadlines', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-replies-'));
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('captures recorded before their deadline win over the overdue timers: every order completes', async () => {
    const stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, fastRetries: true });
    cleanup.push(() => stack.close());
    const probes = stackProbes(() => stack.store);
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: orders });

    let child = await startOrchestrator(dataDir, { stepTimeoutMs, leaseTtlMs });
    cleanup.push(() => killOrchestrator(child));

    // Every saga waits for its payment: the payment service is down.
    await stack.pause('payment');
    const ids: string[] = [];
    for (let i = 0; i < orders; i++) ids.push(await stack.place({ orderId: `late-reply-${i}`, card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 1 }] }));
    for (const id of ids) await probes.inState(id, 'chargingPayment');
    await killOrchestrator(child);

    // The payment service comes back and captures every charge while the orchestrator is dead.
    await stack.resume('payment');
    const deadlines = new Map<string, number>();
    const capturedAt = new Map<string, number>();
    for (const id of ids) {
      const saga = await probes.sagaOf(id);
      const timer = (saga.at(-1)!.data as { timer: { step: string; dueAt: string } }).timer;
      expect(timer.step).toBe('chargePayment');
      deadlines.set(id, Date.parse(timer.dueAt));
      const captured = await until(`the capture of ${id}`, async () =>
        (await stack.store.readStream(streamIdFor.payment(id))).find((e) => e.type === 'PaymentCaptured'),
      );
      capturedAt.set(id, Date.parse(captured.metadata.occurredAt));
    }
    // The premise: each capture was recorded before its deadline.
    for (const id of ids) expect(capturedAt.get(id)!, id).toBeLessThan(deadlines.get(id)!);

    // Back only after every deadline has passed.
    const lastDeadline = Math.max(...deadlines.values());
    await new Promise((r) => setTimeout(r, Math.max(0, lastDeadline - Date.now()) + 300));
    child = await startOrchestrator(dataDir, { stepTimeoutMs, leaseTtlMs });

    const endings = await Promise.all(ids.map(async (id) => ({ id, ...(await probes.ending(id)) })));
    const lostToTimer = endings.filter((e) => e.flags.includes('paymentTimedOut'));
    console.info(`replies after restart: ${orders} captures recorded in time, ${lostToTimer.length} lost to the timer`);
    expect(lostToTimer.map((e) => e.id)).toEqual([]);
    expect(endings.map((e) => e.status)).toEqual(ids.map(() => 'completed'));
    // Money: each capture kept, nothing refunded.
    expect(stack.gateway.ledger()).toEqual({ captured: orders * 1200, refunded: 0 });
  });
});
