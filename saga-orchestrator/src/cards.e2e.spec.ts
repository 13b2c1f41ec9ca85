import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSagaRuntime, type SagaRuntime } from './runtime';
import { stackProbes, until } from './stack-probes.fixture';
import { startEmbeddedStack, testCards, type EmbeddedStack } from './embedded-stack.fixture';

/**
 * The saga with every real service on the embedded stack, one order per test card and per
 * failure the design names: what the saga ends as, and what the order, stock and money show.
 */
const stepTimeoutMs = 800;
const initialStock = 50;

describe('the order saga on the whole embedded stack', () => {
  let stack: EmbeddedStack;
  let saga: SagaRuntime;
  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-cards-'));
    stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, fastRetries: true });
    saga = await startSagaRuntime({ store: stack.store, bus: stack.bus, docs: stack.docs, stepTimeoutMs, timerTickMs: 20 });
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: initialStock });
  });
  afterAll(async () => {
    await saga.stop();
    await stack.close();
  });

  const { statesOf, ending, orderEvents, paymentEvents, stockHeldBy } = stackProbes(() => stack.store);
  it('approve (4242...): completed, order confirmed, stock sold, payment captured, confirmation emailed', async () => {
    await stack.place({ orderId: 'card-approve', card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 2 }] });
    expect(await ending('card-approve')).toEqual(expect.objectContaining({ status: 'completed', flags: [] }));
    expect(await orderEvents('card-approve')).toEqual(['OrderPlaced', 'OrderConfirmed']);
    expect(await stockHeldBy('card-approve')).toEqual(['StockReserved', 'StockCommitted']);
    expect(await paymentEvents('card-approve')).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
    expect(await statesOf('card-approve')).toEqual([
      'reservingStock',
      'chargingPayment',
      'confirmingOrder',
      'committingStock',
      'sendingConfirmationEmail',
      'completed',
    ]);
  });

  it('decline (4000...0002): rejected, stock released, nothing captured', async () => {
    await stack.place({ orderId: 'card-decline', card: testCards.decline, items: [{ sku: 'MUG-001', quantity: 1 }] });
    expect(await ending('card-decline')).toEqual(expect.objectContaining({ status: 'rejected', flags: [] }));
    expect(await orderEvents('card-decline')).toEqual(['OrderPlaced', 'OrderRejected']);
    expect(await stockHeldBy('card-decline')).toEqual(['StockReserved', 'StockReleased']);
    expect(await paymentEvents('card-decline')).toEqual(['PaymentAttemptStarted', 'PaymentDeclined']);
  });

  it('insufficient funds (4000...9995): rejected, stock released', async () => {
    await stack.place({ orderId: 'card-insufficient', card: testCards.insufficient, items: [{ sku: 'MUG-001', quantity: 1 }] });
    expect(await ending('card-insufficient')).toEqual(expect.objectContaining({ status: 'rejected' }));
    expect(await stockHeldBy('card-insufficient')).toEqual(['StockReserved', 'StockReleased']);
  });

  it('transient failures (4000...0119): retried by the payment service, then completed', async () => {
    await stack.place({ orderId: 'card-flaky', card: testCards.flaky, items: [{ sku: 'MUG-001', quantity: 1 }] });
    expect(await ending('card-flaky')).toEqual(expect.objectContaining({ status: 'completed' }));
    expect(await orderEvents('card-flaky')).toEqual(['OrderPlaced', 'OrderConfirmed']);
  });

  it('never answers in time (4000...0259): payment times out, rejected; the late capture is refunded', async () => {
    await stack.place({ orderId: 'card-late', card: testCards.late, items: [{ sku: 'MUG-001', quantity: 1 }] });
    expect(await ending('card-late')).toEqual(expect.objectContaining({ status: 'rejected', flags: ['paymentTimedOut'] }));
    expect(await stockHeldBy('card-late')).toEqual(['StockReserved', 'StockReleased']);
    const refunded = await until('the late capture to be refunded', async () => {
      const types = await paymentEvents('card-late');
      return types.includes('PaymentRefunded') ? types : undefined;
    });
    expect(refunded).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured', 'PaymentRefundStarted', 'PaymentRefunded']);
  });

  it('out of stock: rejected without charging', async () => {
    await stack.place({ orderId: 'no-stock', card: testCards.approve, items: [{ sku: 'MUG-001', quantity: initialStock + 1 }] });
    expect(await ending('no-stock')).toEqual(expect.objectContaining({ status: 'rejected' }));
    expect(await stockHeldBy('no-stock')).toEqual(['StockReservationFailed']);
    expect(await paymentEvents('no-stock')).toEqual([]);
  });

  it('cancelled while charging: stock released, order cancelled, the late capture refunded', async () => {
    await stack.place({ orderId: 'cancel-charging', card: testCards.late, items: [{ sku: 'MUG-001', quantity: 1 }] });
    await until('the saga to charge', async () => ((await statesOf('cancel-charging')).includes('chargingPayment') ? true : undefined));
    await stack.order.requestCancellation({ orderId: 'cancel-charging', actor: { userId: 'cust-cancel-charging', role: 'customer' } });
    expect(await ending('cancel-charging')).toEqual(expect.objectContaining({ status: 'cancelled' }));
    expect(await orderEvents('cancel-charging')).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderCancelled']);
    expect(await stockHeldBy('cancel-charging')).toEqual(['StockReserved', 'StockReleased']);
    await until('the late capture to be refunded', async () => ((await paymentEvents('cancel-charging')).includes('PaymentRefunded') ? true : undefined));
  });

  it('email fails after its retries: completed, flagged, the order stays confirmed', async () => {
    await stack.place({ orderId: 'mail-fails', card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 1 }], email: 'someone@fail.test' });
    expect(await ending('mail-fails')).toEqual(expect.objectContaining({ status: 'completed', flags: ['emailFailed'] }));
    expect(await orderEvents('mail-fails')).toEqual(['OrderPlaced', 'OrderConfirmed']);
  });

  it('afterwards: stock balances (initial = available + reserved + sold) and money (captured - refunded = confirmed totals)', async () => {
    const state = await stack.inventory.snapshot();
    if (state.status !== 'stocked') throw new Error('no inventory');
    const mug = state.products.get('MUG-001')!;
    // Sold: approve (2), flaky (1), mail-fails (1).
    expect({ available: mug.available, reserved: mug.reserved, sold: mug.sold }).toEqual({ available: initialStock - 4, reserved: 0, sold: 4 });
    const ledger = stack.gateway.ledger();
    expect(ledger.captured - ledger.refunded).toBe(4 * 1200);
  });
});
