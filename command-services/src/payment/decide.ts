import type { OrderId, PaymentId } from '@saga/event-schemas/ids';
import type { DeclineReason } from '@saga/event-schemas/payment';
import { ignore, type Decision, type Ignored } from '../shared/decision';
import type { PaymentEvent, PaymentState } from './state';

/**
 * The gateway is I/O, so the handler calls it and hands its answer to the decider inside the
 * command: the decider stays pure and decides what the answer means for the order's payment.
 */
export type ChargeResult =
  | { outcome: 'captured'; paymentId: PaymentId; attempts: number }
  | { outcome: 'declined'; reason: DeclineReason; message: string; attempts: number };

/** Opens the attempt; the charge's result comes later (ChargePayment) or from reconciliation. */
export interface StartCharge {
  type: 'StartCharge';
  data: { orderId: OrderId; amount: number; currency: string; idempotencyKey: string };
}
export interface ChargePayment {
  type: 'ChargePayment';
  data: { orderId: OrderId; amount: number; currency: string; result: ChargeResult };
}

export interface RefundPayment {
  type: 'RefundPayment';
  data: { orderId: OrderId; reason: string };
}

/** Opens the refund; its answer comes later (RefundPayment) or from reconciliation. */
export interface StartRefund {
  type: 'StartRefund';
  data: { orderId: OrderId; reason: string; idempotencyKey: string };
}
export type PaymentCommand = StartCharge | ChargePayment | StartRefund | RefundPayment;
export type PaymentContext = Record<string, never>;

/**
 * Asked before the gateway is called: is there anything to do? A payment is charged once and
 * refunded once, so a second charge or refund must not reach the provider at all.
 */
export function precheck(type: PaymentCommand['type'], state: PaymentState): Ignored | undefined {
  switch (type) {
    case 'StartCharge':
      if (state.status === 'none') return undefined;
      if (state.status === 'charging') return ignore('AlreadyCharging');
      return ignore(state.status === 'declined' ? 'AlreadyDeclined' : 'AlreadyCharged');
    case 'ChargePayment':
      // The answer closes the open attempt (one recorded before this change has none).
      if (state.status === 'none' || state.status === 'charging') return undefined;
      return ignore(state.status === 'declined' ? 'AlreadyDeclined' : 'AlreadyCharged');
    case 'StartRefund':
      if (state.status === 'captured') return undefined;
      if (state.status === 'refunding') return ignore('AlreadyRefunding');
      return ignore(state.status === 'refunded' ? 'AlreadyRefunded' : 'NothingCaptured');
    case 'RefundPayment':
      // The answer closes the open refund (one recorded before this change has none).
      if (state.status === 'captured' || state.status === 'refunding') return undefined;
      return ignore(state.status === 'refunded' ? 'AlreadyRefunded' : 'NothingCaptured');
    default: {
      const unreachable: never = type;
      return unreachable;
    }
  }
}

export function decide(command: PaymentCommand, state: PaymentState, _context: PaymentContext = {}): Decision<PaymentEvent> {
  const skip = precheck(command.type, state);
  if (skip) return skip;
  switch (command.type) {
    case 'StartCharge':
      return [{ type: 'PaymentAttemptStarted', data: command.data }];
    case 'ChargePayment': {
      const { orderId, amount, currency, result } = command.data;
      if (result.outcome === 'declined') {
        return [{ type: 'PaymentDeclined', data: { orderId, amount, currency, reason: result.reason, message: result.message, attempts: result.attempts } }];
      }
      const { paymentId, attempts } = result;
      return [
        { type: 'PaymentAuthorized', data: { orderId, paymentId, amount, currency, attempts } },
        { type: 'PaymentCaptured', data: { orderId, paymentId, amount, currency } },
      ];
    }
    case 'StartRefund': {
      if (state.status !== 'captured') return ignore('NothingCaptured');
      const { orderId, reason, idempotencyKey } = command.data;
      const { amount, currency } = state;
      return [{ type: 'PaymentRefundStarted', data: { orderId, paymentId: state.paymentId as PaymentId, amount, currency, reason, idempotencyKey } }];
    }
    case 'RefundPayment': {
      if (state.status !== 'captured' && state.status !== 'refunding') return ignore('NothingCaptured');
      const { orderId, reason } = command.data;
      return [
        { type: 'PaymentRefunded', data: { orderId, paymentId: state.paymentId as PaymentId, amount: state.amount, currency: state.currency, reason } },
      ];
    }
    default: {
      const unreachable: never = command;
      return unreachable;
    }
  }
}
