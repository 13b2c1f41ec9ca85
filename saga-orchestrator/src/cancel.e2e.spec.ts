import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError } from '@saga/platform/errors';
import { startSagaRuntime, type SagaRuntime } from './runtime';
import { stackProbes, until } from './stack-probes.fixture';
import { startEmbeddedStack, testCards, type EmbeddedStack } from './embedded-stack.fixture';

/**
 * The customer cancels while the saga waits in each of its running states, on the whole
 * embedded stack (relay, the four services and their consumers, the saga runtime). The saga
 * is held in a state by pausing the consumer of the service that state waits for: its command
 * waits on the topic, as when the service is down, and goes through once resumed.
 *
 * What each case must show (DESIGN.md, machine.ts): before the pivot, cancelling undoes the
 * done steps in reverse (refund, release), cancels the order and emails the cancellation; a
 * ConfirmOrder still in flight loses to the cancellation; once the order is confirmed (or
 * rejected) the request is refused and the saga ends as it would have; a cancellation that
 * arrives while the saga already rolls back a rejection changes nothing.
 */
// Long enough that no step times out while its service is paused: these cases are about
// cancelling, and a timeout would take the saga down another path.
const stepTimeoutMs = 30_000;
const initialStock = 50;
const price = 1200;

describe('the customer cancels in each running state of the saga, on the whole embedded stack', () => {
  let stack: EmbeddedStack;
  let saga: SagaRuntime;
  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-cancel-'));
    stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, fastRetries: true });
    saga = await startSagaRuntime({ store: stack.store, bus: stack.bus, docs: stack.docs, stepTimeoutMs, timerTickMs: 20 });
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price, currency: 'EUR', stock: initialStock });
  });
  afterAll(async () => {
    await saga.stop();
    await stack.close();
  });

  const { sagaOf, statesOf, ending, inState, orderEvents, paymentEvents, stockHeldBy, emails } = stackProbes(() => stack.store);
  const cancel = (orderId: string) =>
    stack.order.requestCancellation({ orderId, actor: { userId: `cust-${orderId}`, role: 'customer' } });
  const place = (orderId: string, card: string) => stack.place({ orderId, card, items: [{ sku: 'MUG-001', quantity: 1 }] });

  it('reservingStock: cancelled at once; the reservation landing afterwards is released', async () => {
    const id = 'cancel-reserving';
    await stack.pause('inventory');
    await place(id, testCards.approve);
    await inState(id, 'reservingStock');
    expect(await cancel(id)).toEqual({ orderId: id, requested: true });
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'cancelled', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderCancelled']);
    expect(await emails(id)).toEqual(['EmailSent:order-cancelled']);
    expect(await stockHeldBy(id)).toEqual([]);

    await stack.resume('inventory');
    await until('the late reservation to be released', async () => ((await stockHeldBy(id)).includes('StockReleased') ? true : undefined));
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockReleased']);
    expect(await paymentEvents(id)).toEqual([]);
    expect(await statesOf(id)).toEqual(['reservingStock', 'cancellingOrder', 'sendingCancellationEmail', 'cancelled', 'cancelled']);
    expect((await sagaOf(id)).at(-1)?.data).toEqual(expect.objectContaining({ to: 'cancelled', flags: ['lateReservationReleased'] }));
  });

  it('chargingPayment: stock released, order cancelled; the capture landing afterwards is refunded', async () => {
    const id = 'cancel-charging';
    await stack.pause('payment');
    await place(id, testCards.approve);
    await inState(id, 'chargingPayment');
    expect(await cancel(id)).toEqual({ orderId: id, requested: true });
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'cancelled', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderCancelled']);
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockReleased']);
    expect(await emails(id)).toEqual(['EmailSent:order-cancelled']);
    expect(await paymentEvents(id)).toEqual([]);

    await stack.resume('payment');
    await until('the late capture to be refunded', async () => ((await paymentEvents(id)).includes('PaymentRefunded') ? true : undefined));
    expect(await paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured', 'PaymentRefundStarted', 'PaymentRefunded']);
    // The late capture is refunded (sent), then flagged once the payment service confirms it.
    await until('the saga to see the refund', async () =>
      ((await sagaOf(id)).at(-1)?.data as { flags?: string[] }).flags?.includes('lateCaptureRefunded') ? true : undefined,
    );
    expect(await statesOf(id)).toEqual([
      'reservingStock',
      'chargingPayment',
      'releasingStock',
      'cancellingOrder',
      'sendingCancellationEmail',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    expect((await sagaOf(id)).at(-1)?.data).toEqual(expect.objectContaining({ to: 'cancelled', flags: ['lateCaptureRefunded'] }));
  });

  it('a 500-character cancellation reason still gets the late capture refunded (issue 11, item 3)', async () => {
    const id = 'cancel-long-reason';
    const reason = 'r'.repeat(500);
    await stack.pause('payment');
    await place(id, testCards.approve);
    await inState(id, 'chargingPayment');
    await stack.order.requestCancellation({ orderId: id, reason, actor: { userId: `cust-${id}`, role: 'customer' } });
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'cancelled' }));
    await stack.resume('payment');
    // The refund the saga builds fits RefundPayment (500 chars): it is made, not dead-lettered.
    await until('the late capture to be refunded', async () => ((await paymentEvents(id)).includes('PaymentRefunded') ? true : undefined));
    const refunded = (await stack.store.readStream(`payment-${id}`)).find((e) => e.type === 'PaymentRefunded')!.data as { reason: string };
    expect(refunded.reason).toHaveLength(500);
    expect(refunded.reason.startsWith('captured after the saga gave up: rrr')).toBe(true);
    expect(refunded.reason.endsWith('…')).toBe(true);
    await until('the saga to see the refund', async () =>
      ((await sagaOf(id)).at(-1)?.data as { flags?: string[] }).flags?.includes('lateCaptureRefunded') ? true : undefined,
    );
  });

  it('confirmingOrder: the ConfirmOrder in flight loses; refunded, released, cancelled', async () => {
    const id = 'cancel-confirming';
    await stack.pause('order');
    await place(id, testCards.approve);
    await inState(id, 'confirmingOrder');
    expect(await cancel(id)).toEqual({ orderId: id, requested: true });
    // Refund and release go through; ConfirmOrder and then CancelOrder wait on the order topic.
    await inState(id, 'cancellingOrder');
    expect(await paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured', 'PaymentRefundStarted', 'PaymentRefunded']);
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockReleased']);
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested']);

    await stack.resume('order');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'cancelled', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderCancelled']);
    expect(await emails(id)).toEqual(['EmailSent:order-cancelled']);
    expect(await statesOf(id)).toEqual([
      'reservingStock',
      'chargingPayment',
      'confirmingOrder',
      'refundingPayment',
      'releasingStock',
      'cancellingOrder',
      'sendingCancellationEmail',
      'cancelled',
    ]);
  });

  it('committingStock: after the pivot the request is refused and the saga completes', async () => {
    const id = 'cancel-committing';
    // Hold payment so inventory can be paused after it reserved and before it commits.
    await stack.pause('payment');
    await place(id, testCards.approve);
    await inState(id, 'chargingPayment');
    await stack.pause('inventory');
    await stack.resume('payment');
    await inState(id, 'committingStock');
    await expect(cancel(id)).rejects.toBeInstanceOf(IllegalStateError);

    await stack.resume('inventory');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'completed', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderConfirmed']);
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockCommitted']);
    expect(await paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
    expect(await emails(id)).toEqual(['EmailSent:order-confirmed']);
    expect(await statesOf(id)).toEqual([
      'reservingStock',
      'chargingPayment',
      'confirmingOrder',
      'committingStock',
      'sendingConfirmationEmail',
      'completed',
    ]);
  });

  it('sendingConfirmationEmail: the request is refused and the saga completes', async () => {
    const id = 'cancel-emailing';
    await stack.pause('email');
    await place(id, testCards.approve);
    await inState(id, 'sendingConfirmationEmail');
    await expect(cancel(id)).rejects.toBeInstanceOf(IllegalStateError);

    await stack.resume('email');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'completed', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderConfirmed']);
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockCommitted']);
    expect(await paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
    expect(await emails(id)).toEqual(['EmailSent:order-confirmed']);
  });

  it('cancellingOrder and sendingCancellationEmail: a second request is a no-op, a request after the order is cancelled is refused', async () => {
    const id = 'cancel-twice';
    await stack.pause('inventory');
    await stack.pause('order');
    await place(id, testCards.approve);
    await inState(id, 'reservingStock');
    expect(await cancel(id)).toEqual({ orderId: id, requested: true });
    await inState(id, 'cancellingOrder');
    expect(await cancel(id)).toEqual({ orderId: id, requested: false });

    await stack.pause('email');
    await stack.resume('order');
    await inState(id, 'sendingCancellationEmail');
    await expect(cancel(id)).rejects.toBeInstanceOf(IllegalStateError);

    await stack.resume('email');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'cancelled', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderCancelled']);
    expect(await emails(id)).toEqual(['EmailSent:order-cancelled']);

    await stack.resume('inventory');
    await until('the late reservation to be released', async () => ((await stockHeldBy(id)).includes('StockReleased') ? true : undefined));
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockReleased']);
    expect(await paymentEvents(id)).toEqual([]);
  });

  it('releasingStock after a decline: the request is recorded but the saga, already rolling back, ends rejected', async () => {
    const id = 'cancel-releasing';
    await stack.pause('payment');
    await place(id, testCards.decline);
    await inState(id, 'chargingPayment');
    await stack.pause('inventory');
    await stack.resume('payment');
    await inState(id, 'releasingStock');
    expect(await cancel(id)).toEqual({ orderId: id, requested: true });

    await stack.resume('inventory');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'rejected', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderRejected']);
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockReleased']);
    expect(await paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentDeclined']);
    expect(await emails(id)).toEqual(['EmailSent:order-rejected']);
    expect(await statesOf(id)).toEqual([
      'reservingStock',
      'chargingPayment',
      'releasingStock',
      'rejectingOrder',
      'sendingRejectionEmail',
      'rejected',
    ]);
  });

  it('rejectingOrder after a decline: the request is recorded, the order is rejected all the same', async () => {
    const id = 'cancel-rejecting';
    await stack.pause('order');
    await place(id, testCards.decline);
    await inState(id, 'rejectingOrder');
    expect(await cancel(id)).toEqual({ orderId: id, requested: true });

    await stack.resume('order');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'rejected', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderCancellationRequested', 'OrderRejected']);
    expect(await stockHeldBy(id)).toEqual(['StockReserved', 'StockReleased']);
    expect(await paymentEvents(id)).toEqual(['PaymentAttemptStarted', 'PaymentDeclined']);
    expect(await emails(id)).toEqual(['EmailSent:order-rejected']);
  });

  it('sendingRejectionEmail: the order is rejected, the request is refused', async () => {
    const id = 'cancel-rejection-email';
    await stack.pause('email');
    await place(id, testCards.decline);
    await inState(id, 'sendingRejectionEmail');
    await expect(cancel(id)).rejects.toBeInstanceOf(IllegalStateError);

    await stack.resume('email');
    expect(await ending(id)).toEqual(expect.objectContaining({ status: 'rejected', flags: [] }));
    expect(await orderEvents(id)).toEqual(['OrderPlaced', 'OrderRejected']);
    expect(await emails(id)).toEqual(['EmailSent:order-rejected']);
  });

  it('afterwards: stock balances (initial = available + reserved + sold) and money (captured - refunded = confirmed totals)', async () => {
    const state = await stack.inventory.snapshot();
    if (state.status !== 'stocked') throw new Error('no inventory');
    const mug = state.products.get('MUG-001')!;
    // Sold: only the two orders confirmed before their cancel request (committing, emailing).
    expect({ available: mug.available, reserved: mug.reserved, sold: mug.sold }).toEqual({ available: initialStock - 2, reserved: 0, sold: 2 });
    const ledger = stack.gateway.ledger();
    expect(ledger.captured - ledger.refunded).toBe(2 * price);
  });
});
