import { afterEach, describe, expect, it } from 'vitest';
import type { OrderId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { deterministicId } from '@saga/platform/ids';
import { envelopeOf, fixedClock, tempDataDir } from '../shared/test-support';
import { createPaymentHandlers } from './handlers';
import { createSimulatedGateway } from './simulated-gateway';

const clock = fixedClock();
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
      { type: 'PaymentDeclined', data: { orderId: 'o-1', amount: 4900, currency: 'EUR', reason: 'card_declined', message: 'the card was declined', attempts: 1 } },
    ]);
    expect(await eventsOf('o-2')).toEqual([
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
      { type: 'PaymentAuthorized', data: { orderId, paymentId: 'sim_b2', amount: 4900, currency: 'EUR', attempts: 1 } },
      { type: 'PaymentCaptured', data: { orderId, paymentId: 'sim_b2', amount: 4900, currency: 'EUR' } },
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
    expect((await eventsOf('o-fast')).map((e) => e.type)).toEqual(['PaymentAuthorized', 'PaymentCaptured']);
    expect(await eventsOf('o-slow')).toEqual([]);
    await slow;
    expect((await eventsOf('o-slow')).map((e) => e.type)).toEqual(['PaymentAuthorized', 'PaymentCaptured']);
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
    expect(await eventsOf('o-1')).toHaveLength(2);
  });
});
