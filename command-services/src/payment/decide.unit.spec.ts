import { describe, it } from 'vitest';
import type { OrderId, PaymentId } from '@saga/event-schemas/ids';
import { deciderSpec } from '../shared/decider-spec';
import { decide, type ChargePayment } from './decide';
import { evolve, initialState, type PaymentEvent } from './state';

const { given } = deciderSpec({ initialState, evolve, decide }, {});

const orderId = 'order-1' as OrderId;
const paymentId = 'sim_abc' as PaymentId;
const charge = (result: ChargePayment['data']['result']): ChargePayment => ({
  type: 'ChargePayment',
  data: { orderId, amount: 4900, currency: 'EUR', result },
});
const authorized: PaymentEvent = { type: 'PaymentAuthorized', data: { orderId, paymentId, amount: 4900, currency: 'EUR', attempts: 1 } };
const captured: PaymentEvent = { type: 'PaymentCaptured', data: { orderId, paymentId, amount: 4900, currency: 'EUR' } };
const declined: PaymentEvent = {
  type: 'PaymentDeclined',
  data: { orderId, amount: 4900, currency: 'EUR', reason: 'card_declined', message: 'the card was declined', attempts: 1 },
};
const refunded: PaymentEvent = { type: 'PaymentRefunded', data: { orderId, paymentId, amount: 4900, currency: 'EUR', reason: 'cancelled by the customer' } };
const refund = { type: 'RefundPayment' as const, data: { orderId, reason: 'cancelled by the customer' } };
const startCharge = { type: 'StartCharge' as const, data: { orderId, amount: 4900, currency: 'EUR', idempotencyKey: 'cmd-1' } };
const attemptStarted: PaymentEvent = { type: 'PaymentAttemptStarted', data: { orderId, amount: 4900, currency: 'EUR', idempotencyKey: 'cmd-1' } };

describe('payment: charge', () => {
  it('an approved charge is authorized and captured', () =>
    given([]).when(charge({ outcome: 'captured', paymentId, attempts: 1 })).then([authorized, captured]));

  it('records how many tries the authorization took', () =>
    given([])
      .when(charge({ outcome: 'captured', paymentId, attempts: 3 }))
      .then([{ type: 'PaymentAuthorized', data: { orderId, paymentId, amount: 4900, currency: 'EUR', attempts: 3 } }, captured]));

  it('a declined charge is declined with the reason', () =>
    given([]).when(charge({ outcome: 'declined', reason: 'card_declined', message: 'the card was declined', attempts: 1 })).then([declined]));

  it('a gateway that stays unavailable declines as gateway_unavailable', () =>
    given([])
      .when(charge({ outcome: 'declined', reason: 'gateway_unavailable', message: 'timeout', attempts: 4 }))
      .then([{ type: 'PaymentDeclined', data: { orderId, amount: 4900, currency: 'EUR', reason: 'gateway_unavailable', message: 'timeout', attempts: 4 } }]));

  it('a payment is charged once', () => {
    given([authorized, captured]).when(charge({ outcome: 'captured', paymentId, attempts: 1 })).thenIgnored('AlreadyCharged');
    given([declined]).when(charge({ outcome: 'captured', paymentId, attempts: 1 })).thenIgnored('AlreadyDeclined');
    given([authorized, captured, refunded]).when(charge({ outcome: 'captured', paymentId, attempts: 1 })).thenIgnored('AlreadyCharged');
  });
});

describe('payment: the attempt recorded before the provider is asked', () => {
  it('a charge opens an attempt with its idempotency key', () => given([]).when(startCharge).then([attemptStarted]));
  it('an open attempt is charging, and is not opened twice', () => {
    given([attemptStarted]).thenState({ status: 'charging', amount: 4900, currency: 'EUR', idempotencyKey: 'cmd-1' });
    given([attemptStarted]).when(startCharge).thenIgnored('AlreadyCharging');
    given([authorized, captured]).when(startCharge).thenIgnored('AlreadyCharged');
  });
  it("the provider's answer closes the attempt", () => {
    given([attemptStarted]).when(charge({ outcome: 'captured', paymentId, attempts: 1 })).then([authorized, captured]);
    given([attemptStarted]).when(charge({ outcome: 'declined', reason: 'card_declined', message: 'the card was declined', attempts: 1 })).then([declined]);
  });
  it('nothing is refunded while the attempt is open', () => given([attemptStarted]).when(refund).thenIgnored('NothingCaptured'));
});

describe('payment: the refund recorded before the provider is asked', () => {
  const startRefund = { type: 'StartRefund' as const, data: { orderId, reason: 'cancelled by the customer', idempotencyKey: 'cmd-2' } };
  const refundStarted: PaymentEvent = {
    type: 'PaymentRefundStarted',
    data: { orderId, paymentId, amount: 4900, currency: 'EUR', reason: 'cancelled by the customer', idempotencyKey: 'cmd-2' },
  };
  it('opens the refund of a captured payment, once', () => {
    given([authorized, captured]).when(startRefund).then([refundStarted]);
    given([authorized, captured, refundStarted]).when(startRefund).thenIgnored('AlreadyRefunding');
    given([]).when(startRefund).thenIgnored('NothingCaptured');
  });
  it("the provider's answer closes it", () => given([authorized, captured, refundStarted]).when(refund).then([refunded]));
});

describe('payment: refund', () => {
  it('a captured payment is refunded in full', () => given([authorized, captured]).when(refund).then([refunded]));

  it('is refunded once', () => given([authorized, captured, refunded]).when(refund).thenIgnored('AlreadyRefunded'));

  it('nothing is refunded when nothing was captured', () => {
    given([]).when(refund).thenIgnored('NothingCaptured');
    given([declined]).when(refund).thenIgnored('NothingCaptured');
  });
});

describe('payment: evolve', () => {
  it('follows the payment from authorized to captured to refunded', () => {
    given([authorized]).thenState({ status: 'authorized', paymentId, amount: 4900, currency: 'EUR' });
    given([authorized, captured]).thenState({ status: 'captured', paymentId, amount: 4900, currency: 'EUR' });
    given([authorized, captured, refunded]).thenState({
      status: 'refunded',
      paymentId,
      amount: 4900,
      currency: 'EUR',
      reason: 'cancelled by the customer',
    });
    given([declined]).thenState({ status: 'declined', amount: 4900, currency: 'EUR', reason: 'card_declined' });
  });
});
