import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandTopics } from '@saga/event-schemas/streams';
import { deterministicId } from '@saga/platform/ids';
import { partitionForKey } from '@saga/platform/message-bus/partitioner';
import { startEmbeddedStack, testCards, type EmbeddedStack } from './embedded-stack.fixture';
import { killChild, startPaymentService } from './orchestrator-child.fixture';
import { startSagaRuntime, type SagaRuntime } from './runtime';
import { stackProbes, until } from './stack-probes.fixture';

/**
 * Issue 11, item 1: a slow charge must survive a crash of the payment service, and must not hold
 * back the orders behind it. The late test card (4000...0259) is authorized by the provider at
 * once but answers after twice the step timeout.
 */
const stepTimeoutMs = 1_500;
const leaseTtlMs = 600;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function stackWithSaga(name: string): Promise<{ stack: EmbeddedStack; saga: SagaRuntime; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `saga-${name}-`));
  const stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, leaseTtlMs, fastRetries: true });
  cleanup.push(() => stack.close());
  const saga = await startSagaRuntime({ store: stack.store, bus: stack.bus, docs: stack.docs, stepTimeoutMs, relayCheckpoint: 'relay.relay' });
  cleanup.push(() => saga.stop());
  return { stack, saga, dataDir };
}

describe('a slow charge and a crash of the payment service', () => {
  it('SIGKILLed while the provider is answering: on restart the open attempt is reconciled, captured and refunded', async () => {
    const { stack, dataDir } = await stackWithSaga('payment-crash');
    const probes = stackProbes(() => stack.store);
    // The payment service runs in a process of its own, the one that is killed.
    await stack.pause('payment');
    let child = await startPaymentService(dataDir, { stepTimeoutMs, leaseTtlMs });
    cleanup.push(() => killChild(child));
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: 5 });

    const id = await stack.place({ orderId: 'slow-charge', card: testCards.late, items: [{ sku: 'MUG-001', quantity: 1 }] });
    const chargeKey = deterministicId(id, 'chargePayment', 'ChargePayment');
    // The provider has authorized the charge and the service has let go of the command (its
    // offset is committed): the answer is still on its way when the process dies.
    await until('the provider to authorize', async () => ((await stack.gateway.findCharge(chargeKey)).status === 'authorized' ? true : undefined));
    await until('the charge command to be committed', async () => {
      const lag = (await stack.bus.lag('payment-service')).filter((p) => p.topic === commandTopics.payment);
      return lag.length > 0 && lag.every((p) => p.lag === 0) ? true : undefined;
    });
    await killChild(child);
    const killedAt = Date.now();
    // Down long enough for the payment step to time out: the saga rejects the order meanwhile.
    expect(await probes.ending(id)).toEqual(expect.objectContaining({ status: 'rejected', flags: ['paymentTimedOut'] }));
    expect(await probes.paymentEvents(id)).toEqual(['PaymentAttemptStarted']);

    child = await startPaymentService(dataDir, { stepTimeoutMs, leaseTtlMs });
    await until('the charge to be recorded', async () => ((await probes.paymentEvents(id)).includes('PaymentCaptured') ? true : undefined), 20_000);
    const recordedAfterMs = Date.now() - killedAt;
    // The capture came after the saga gave up: it is refunded.
    await until('the capture to be refunded', async () => ((await probes.paymentEvents(id)).includes('PaymentRefunded') ? true : undefined), 20_000);
    console.info(`payment crash: the interrupted charge was recorded ${recordedAfterMs} ms after the kill, then refunded`);

    expect(await probes.paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured', 'PaymentRefundStarted', 'PaymentRefunded']);
    await until('the saga to see the refund', async () => {
      const last = (await probes.sagaOf(id)).at(-1)!.data as { flags?: string[] };
      return last.flags?.includes('lateCaptureRefunded') ? true : undefined;
    });
    expect(stack.gateway.ledger()).toEqual({ captured: 1200, refunded: 1200 });
  });

  it('approved orders queued behind a slow card on its partition are not held past their 1.5 s step timeout', async () => {
    const { stack } = await stackWithSaga('payment-queue');
    const probes = stackProbes(() => stack.store);
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: 20 });
    // Order ids that share the slow order's partition of the payment command topic.
    const partition = partitionForKey('queue-slow', 4);
    const behind = Array.from({ length: 200 }, (_, i) => `queue-fast-${i}`)
      .filter((id) => partitionForKey(id, 4) === partition)
      .slice(0, 5);
    expect(behind).toHaveLength(5);

    await stack.place({ orderId: 'queue-slow', card: testCards.late, items: [{ sku: 'MUG-001', quantity: 1 }] });
    await until('the slow charge to reach the provider', async () =>
      (await stack.gateway.findCharge(deterministicId('queue-slow', 'chargePayment', 'ChargePayment'))).status === 'authorized' ? true : undefined,
    );
    for (const id of behind) await stack.place({ orderId: id, card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 1 }] });

    const endings = await Promise.all(behind.map(async (id) => ({ id, ...(await probes.ending(id)) })));
    const timedOut = endings.filter((e) => e.status !== 'completed');
    console.info(`payment queue: ${timedOut.length} of ${behind.length} approved orders behind a slow card were rejected`);
    expect(timedOut).toEqual([]);
    expect(await probes.ending('queue-slow')).toEqual(expect.objectContaining({ status: 'rejected', flags: ['paymentTimedOut'] }));
  });
});
