import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OrderId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { deterministicId } from '@saga/platform/ids';
import { envelopeOf, fixedClock, tempDataDir } from '../shared/test-support';
import { createPaymentHandlers } from './handlers';
import { openAttemptIndex } from './open-attempts';
import { createSimulatedGateway } from './simulated-gateway';

const clock = fixedClock();
/** Recorded before the provider is asked; its key is the charge command's id. */
const attempt = (orderId: string, amount = 4900) => ({
  type: 'PaymentAttemptStarted',
  data: { orderId, amount, currency: 'EUR', idempotencyKey: deterministicId('saga', orderId, 'ChargePayment') },
});
let store: EventStore;
afterEach(async () => store?.close());

async function setup(options: { lateAnswerMs?: number } = {}) {
  store = await openSqliteEventStore({ dataDir: tempDataDir('payments') });
  const slept: number[] = [];
  const gateway = createSimulatedGateway({ lateAnswerMs: options.lateAnswerMs ?? 50, randomHex: () => 'a1' });
  const payments = createPaymentHandlers({ store, gateway, clock, sleep: async (ms) => void slept.push(ms) });
  const charge = async (orderId: string, card: string, amount = 4900) => {
    const { token } = await gateway.tokenize({ number: card });
    return envelopeOf('ChargePayment', { orderId: orderId as OrderId, amount, currency: 'EUR', paymentToken: token });
  };
  const eventsOf = async (orderId: string) => (await store.readStream(streamIdFor.payment(orderId))).map((e) => ({ type: e.type, data: e.data }));
  return { gateway, payments, charge, eventsOf, slept };
}

describe('payment handlers on the SQLite event store, simulated gateway', () => {
  it('4242: authorized and captured', async () => {
    const { payments, charge, eventsOf, gateway } = await setup();
    await payments.handleSagaCommand(await charge('o-1', '4242424242424242'));
    expect(await eventsOf('o-1')).toEqual([
      attempt('o-1'),
      { type: 'PaymentAuthorized', data: { orderId: 'o-1', paymentId: 'sim_a1', amount: 4900, currency: 'EUR', attempts: 1 } },
      { type: 'PaymentCaptured', data: { orderId: 'o-1', paymentId: 'sim_a1', amount: 4900, currency: 'EUR' } },
    ]);
    expect(gateway.ledger()).toEqual({ captured: 4900, refunded: 0 });
  });

  it('0002 and 9995: declined with the reason', async () => {
    const { payments, charge, eventsOf } = await setup();
    await payments.handleSagaCommand(await charge('o-1', '4000000000000002'));
    await payments.handleSagaCommand(await charge('o-2', '4000000000009995'));
    expect(await eventsOf('o-1')).toEqual([
      attempt('o-1'),
      { type: 'PaymentDeclined', data: { orderId: 'o-1', amount: 4900, currency: 'EUR', reason: 'card_declined', message: 'the card was declined', attempts: 1 } },
    ]);
    expect(await eventsOf('o-2')).toEqual([
      attempt('o-2'),
      {
        type: 'PaymentDeclined',
        data: { orderId: 'o-2', amount: 4900, currency: 'EUR', reason: 'insufficient_funds', message: 'the card has insufficient funds', attempts: 1 },
      },
    ]);
  });

  it('0119: two transient failures, retried with backoff, then approved on the third try', async () => {
    const { payments, charge, eventsOf, slept } = await setup();
    await payments.handleSagaCommand(await charge('o-1', '4000000000000119'));
    expect(slept).toEqual([50, 100]);
    expect(await eventsOf('o-1')).toEqual([
      attempt('o-1'),
      { type: 'PaymentAuthorized', data: { orderId: 'o-1', paymentId: 'sim_a1', amount: 4900, currency: 'EUR', attempts: 3 } },
      { type: 'PaymentCaptured', data: { orderId: 'o-1', paymentId: 'sim_a1', amount: 4900, currency: 'EUR' } },
    ]);
  });

  it('0119 with fewer tries than failures: declined as gateway_unavailable', async () => {
    store = await openSqliteEventStore({ dataDir: tempDataDir('payments') });
    const gateway = createSimulatedGateway();
    const payments = createPaymentHandlers({ store, gateway, clock, sleep: async () => {}, retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 } });
    const { token } = await gateway.tokenize({ number: '4000000000000119' });
    await payments.handleSagaCommand(envelopeOf('ChargePayment', { orderId: 'o-1' as OrderId, amount: 100, currency: 'EUR', paymentToken: token }));
    expect((await store.readStream(streamIdFor.payment('o-1'))).map((e) => e.data)).toEqual([
      attempt('o-1', 100).data,
      { orderId: 'o-1', amount: 100, currency: 'EUR', reason: 'gateway_unavailable', message: 'simulated transient failure 2 of 2', attempts: 2 },
    ]);
  });

  it('0259: answers late, then approves; the refund of that late capture is recorded once', async () => {
    store = await openSqliteEventStore({ dataDir: tempDataDir('payments') });
    const gateway = createSimulatedGateway({ lateAnswerMs: 150, randomHex: () => 'b2' });
    const payments = createPaymentHandlers({ store, gateway, clock });
    const { token } = await gateway.tokenize({ number: '4000000000000259' });
    const orderId = 'o-late' as OrderId;
    const started = Date.now();
    const charging = payments.handleSagaCommand(envelopeOf('ChargePayment', { orderId, amount: 4900, currency: 'EUR', paymentToken: token }));
    // The saga timed out meanwhile and asks for a refund: it waits for the charge of this order, then refunds it.
    const refund = payments.handleSagaCommand(envelopeOf('RefundPayment', { orderId, reason: 'captured after the saga gave up: payment timed out' }));
    const refundAgain = payments.handleSagaCommand(envelopeOf('RefundPayment', { orderId, reason: 'again' }, deterministicId('second refund')));
    await Promise.all([charging, refund, refundAgain]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect((await store.readStream(streamIdFor.payment(orderId))).map((e) => ({ type: e.type, data: e.data }))).toEqual([
      attempt(orderId),
      { type: 'PaymentAuthorized', data: { orderId, paymentId: 'sim_b2', amount: 4900, currency: 'EUR', attempts: 1 } },
      { type: 'PaymentCaptured', data: { orderId, paymentId: 'sim_b2', amount: 4900, currency: 'EUR' } },
      {
        type: 'PaymentRefundStarted',
        data: {
          orderId,
          paymentId: 'sim_b2',
          amount: 4900,
          currency: 'EUR',
          reason: 'captured after the saga gave up: payment timed out',
          idempotencyKey: deterministicId('saga', orderId, 'RefundPayment'),
        },
      },
      { type: 'PaymentRefunded', data: { orderId, paymentId: 'sim_b2', amount: 4900, currency: 'EUR', reason: 'captured after the saga gave up: payment timed out' } },
    ]);
    expect(gateway.ledger()).toEqual({ captured: 4900, refunded: 4900 });
  });

  it('a slow charge does not hold back another order', async () => {
    const { payments, charge, eventsOf } = await setup({ lateAnswerMs: 300 });
    const slow = payments.handleSagaCommand(await charge('o-slow', '4000000000000259'));
    const started = Date.now();
    await payments.handleSagaCommand(await charge('o-fast', '4242424242424242'));
    expect(Date.now() - started).toBeLessThan(250);
    expect((await eventsOf('o-fast')).map((e) => e.type)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
    // The slow one's attempt is on record while the provider is still answering.
    expect(await eventsOf('o-slow')).toEqual([attempt('o-slow')]);
    await slow;
    expect((await eventsOf('o-slow')).map((e) => e.type)).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
  });

  it('a redelivered charge neither calls the gateway again nor appends; nothing to refund is a no-op', async () => {
    const { payments, charge, eventsOf, gateway } = await setup();
    const command = await charge('o-1', '4242424242424242');
    await payments.handleSagaCommand(command);
    expect(await payments.handleSagaCommand(command)).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    // Another charge command for an order already charged (a new command id) does not reach the gateway either.
    const another = { ...(await charge('o-1', '4242424242424242')), commandId: deterministicId('another charge') };
    expect(await payments.handleSagaCommand(another)).toEqual({ kind: 'ignored', reason: 'AlreadyCharged' });
    expect(gateway.ledger()).toEqual({ captured: 4900, refunded: 0 });
    expect(await payments.handleSagaCommand(envelopeOf('RefundPayment', { orderId: 'o-2' as OrderId, reason: 'x' }))).toEqual({
      kind: 'ignored',
      reason: 'NothingCaptured',
    });
    expect(await eventsOf('o-1')).toHaveLength(3);
  });

  it('a charge interrupted while the provider answers is reconciled by its key: captured, then refundable', async () => {
    const dataDir = tempDataDir('payments');
    store = await openSqliteEventStore({ dataDir });
    // The first service instance dies while the late card's answer is on its way (it never comes).
    const books = createSimulatedGateway({ dataDir, sleep: () => new Promise(() => {}), randomHex: () => 'c3' });
    const attempts = openAttemptIndex(dataDir);
    const first = createPaymentHandlers({ store, gateway: books, attempts, clock });
    const { token } = await books.tokenize({ number: '4000000000000259' });
    let recorded = false;
    void first.handleSagaCommand(envelopeOf('ChargePayment', { orderId: 'o-1' as OrderId, amount: 4900, currency: 'EUR', paymentToken: token }), {
      attemptRecorded: () => (recorded = true),
    });
    await vi.waitFor(() => expect(recorded).toBe(true));
    expect(attempts.list()).toEqual([{ orderId: 'o-1', idempotencyKey: deterministicId('saga', 'o-1', 'ChargePayment') }]);

    // The restarted service: the provider's books and the open attempts come back from disk.
    const restarted = createPaymentHandlers({
      store,
      gateway: createSimulatedGateway({ dataDir, randomHex: () => 'd4' }),
      attempts: openAttemptIndex(dataDir),
      clock,
    });
    expect(await restarted.reconcile()).toEqual({ open: 1, failed: 0 });
    const events = (await store.readStream(streamIdFor.payment('o-1'))).map((e) => ({ type: e.type, data: e.data, causationId: e.metadata.causationId }));
    const key = deterministicId('saga', 'o-1', 'ChargePayment');
    expect(events).toEqual([
      { ...attempt('o-1'), causationId: key },
      { type: 'PaymentAuthorized', data: { orderId: 'o-1', paymentId: 'sim_c3', amount: 4900, currency: 'EUR', attempts: 1 }, causationId: key },
      { type: 'PaymentCaptured', data: { orderId: 'o-1', paymentId: 'sim_c3', amount: 4900, currency: 'EUR' }, causationId: key },
    ]);
    expect(openAttemptIndex(dataDir).list()).toEqual([]);
    expect(await restarted.reconcile()).toEqual({ open: 0, failed: 0 });
    await restarted.handleSagaCommand(envelopeOf('RefundPayment', { orderId: 'o-1' as OrderId, reason: 'captured after the saga gave up: payment timed out' }));
    expect(createSimulatedGateway({ dataDir }).ledger()).toEqual({ captured: 4900, refunded: 4900 });
  });

  it('an attempt the provider never received is closed as declined: no money moved', async () => {
    store = await openSqliteEventStore({ dataDir: tempDataDir('payments') });
    const attempts = openAttemptIndex();
    const gateway = createSimulatedGateway();
    const payments = createPaymentHandlers({ store, gateway, attempts, clock });
    const key = deterministicId('saga', 'o-2', 'ChargePayment');
    // As if the service died between recording the attempt and calling the provider.
    await store.append(streamIdFor.payment('o-2'), [
      {
        eventId: deterministicId(key, 0),
        type: 'PaymentAttemptStarted',
        data: { orderId: 'o-2', amount: 700, currency: 'EUR', idempotencyKey: key },
        metadata: { correlationId: 'o-2', causationId: key, occurredAt: clock().toISOString() },
      },
    ] as never, { expectedRevision: 'no_stream' });
    attempts.open('o-2', key);
    expect(await payments.reconcile()).toEqual({ open: 1, failed: 0 });
    expect((await store.readStream(streamIdFor.payment('o-2'))).map((e) => e.data).at(-1)).toEqual({
      orderId: 'o-2',
      amount: 700,
      currency: 'EUR',
      reason: 'gateway_unavailable',
      message: 'the charge was interrupted before the provider received it',
      attempts: 1,
    });
    expect(gateway.ledger()).toEqual({ captured: 0, refunded: 0 });
  });

  it('a refund interrupted while the provider answers is reconciled: refunded once', async () => {
    const dataDir = tempDataDir('payments');
    store = await openSqliteEventStore({ dataDir });
    const gateway = createSimulatedGateway({ dataDir, randomHex: () => 'a7' });
    const attempts = openAttemptIndex(dataDir);
    const payments = createPaymentHandlers({ store, gateway, attempts, clock });
    const { token } = await gateway.tokenize({ number: '4242424242424242' });
    await payments.handleSagaCommand(envelopeOf('ChargePayment', { orderId: 'o-3' as OrderId, amount: 900, currency: 'EUR', paymentToken: token }));
    // This instance dies inside the provider's refund call.
    const dying = createPaymentHandlers({ store, gateway: { ...gateway, refund: () => new Promise(() => {}) }, attempts, clock });
    let recorded = false;
    void dying.handleSagaCommand(envelopeOf('RefundPayment', { orderId: 'o-3' as OrderId, reason: 'cancelled by the customer' }), {
      attemptRecorded: () => (recorded = true),
    });
    await vi.waitFor(() => expect(recorded).toBe(true));
    expect((await store.readStream(streamIdFor.payment('o-3'))).map((e) => e.type).at(-1)).toBe('PaymentRefundStarted');

    const restarted = createPaymentHandlers({ store, gateway, attempts: openAttemptIndex(dataDir), clock });
    expect(await restarted.reconcile()).toEqual({ open: 1, failed: 0 });
    expect((await store.readStream(streamIdFor.payment('o-3'))).map((e) => e.type)).toEqual([
      'PaymentAttemptStarted',
      'PaymentAuthorized',
      'PaymentCaptured',
      'PaymentRefundStarted',
      'PaymentRefunded',
    ]);
    expect(gateway.ledger()).toEqual({ captured: 900, refunded: 900 });
  });
});
