import type { EventOf } from '@saga/event-schemas/catalog';
import type { DeclineReason } from '@saga/event-schemas/payment';

export type PaymentEvent =
  | EventOf<'PaymentAttemptStarted'>
  | EventOf<'PaymentAuthorized'>
  | EventOf<'PaymentCaptured'>
  | EventOf<'PaymentDeclined'>
  | EventOf<'PaymentRefundStarted'>
  | EventOf<'PaymentRefunded'>;

/** One order's payment: charged at most once, refunded at most once and only once captured. */
export type PaymentState =
  | { status: 'none' }
  /** The provider was asked (or is about to be) and has not answered yet: reconciled on restart. */
  | { status: 'charging'; amount: number; currency: string; idempotencyKey: string }
  | { status: 'authorized'; paymentId: string; amount: number; currency: string }
  | { status: 'captured'; paymentId: string; amount: number; currency: string }
  | { status: 'declined'; amount: number; currency: string; reason: DeclineReason }
  /** The refund was asked (or is about to be) and its answer is not recorded yet: reconciled on restart. */
  | { status: 'refunding'; paymentId: string; amount: number; currency: string; reason: string; idempotencyKey: string }
  | { status: 'refunded'; paymentId: string; amount: number; currency: string; reason: string };

export const initialState: PaymentState = { status: 'none' };

export function evolve(state: PaymentState, event: PaymentEvent): PaymentState {
  switch (event.type) {
    case 'PaymentAttemptStarted': {
      const { amount, currency, idempotencyKey } = event.data;
      return { status: 'charging', amount, currency, idempotencyKey };
    }
    case 'PaymentAuthorized': {
      const { paymentId, amount, currency } = event.data;
      return { status: 'authorized', paymentId, amount, currency };
    }
    case 'PaymentCaptured': {
      const { paymentId, amount, currency } = event.data;
      return { status: 'captured', paymentId, amount, currency };
    }
    case 'PaymentDeclined': {
      const { amount, currency, reason } = event.data;
      return { status: 'declined', amount, currency, reason };
    }
    case 'PaymentRefundStarted': {
      const { paymentId, amount, currency, reason, idempotencyKey } = event.data;
      return { status: 'refunding', paymentId, amount, currency, reason, idempotencyKey };
    }
    case 'PaymentRefunded': {
      const { paymentId, amount, currency, reason } = event.data;
      return { status: 'refunded', paymentId, amount, currency, reason };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
