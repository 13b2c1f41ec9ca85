import type { RecordedEvent } from '@saga/event-schemas/envelope';
import type { OrderId } from '@saga/event-schemas/ids';
import type { SagaEvent, SagaInput } from './machine';

/** The topics the saga listens to: every service's events, routed to sagas by order. */
export const sagaInputTopics = ['events.order', 'events.inventory', 'events.payment', 'events.email'] as const;

/** What a bus event means to the saga: start one, feed one, or nothing. */
export type SagaInputOf =
  | { kind: 'start'; orderId: OrderId; eventId: string; input: SagaInput }
  | { kind: 'feed'; orderId: string; eventId: string; event: SagaEvent }
  | { kind: 'irrelevant'; type: string };

/**
 * Turns a recorded event into a saga input, stamped with the time it is applied (`at`),
 * so deadlines count from when the saga learnt of it, and with the time it was recorded. Events in answer to saga commands
 * carry the order id as correlation id; the order's own events carry it in their data.
 */
export function sagaInputOf(recorded: RecordedEvent, at: string, stepTimeoutMs: number): SagaInputOf {
  const orderId = recorded.metadata.correlationId;
  const eventId = recorded.eventId;
  // A reply is judged by when its service recorded it (machine.ts), not by `at`.
  const recordedAt = recorded.metadata.occurredAt;
  const feed = (event: SagaEvent): SagaInputOf => ({ kind: 'feed', orderId, eventId, event: { ...event, recordedAt } });
  switch (recorded.type) {
    case 'OrderPlaced': {
      const d = recorded.data;
      return {
        kind: 'start',
        orderId: d.orderId,
        eventId,
        input: {
          orderId: d.orderId,
          customerEmail: d.customerEmail,
          items: d.items.map(({ sku, quantity }) => ({ sku, quantity })),
          total: d.total,
          currency: d.currency,
          paymentToken: d.payment.token,
          stepTimeoutMs,
          startedAt: at,
        },
      };
    }
    case 'OrderCancellationRequested':
      return {
        kind: 'feed',
        orderId: recorded.data.orderId,
        eventId,
        event: { type: 'OrderCancellationRequested', reason: recorded.data.reason, at },
      };
    case 'OrderConfirmed':
    case 'OrderRejected':
    case 'OrderCancelled':
      return { kind: 'feed', orderId: recorded.data.orderId, eventId, event: { type: recorded.type, at, recordedAt } };
    case 'StockReserved':
    case 'StockReleased':
    case 'StockCommitted':
    case 'PaymentRefunded':
    case 'EmailSent':
      return feed({ type: recorded.type, at });
    case 'StockReservationFailed':
      return feed({ type: 'StockReservationFailed', reason: recorded.data.reason, at });
    case 'PaymentCaptured':
      return feed({ type: 'PaymentCaptured', paymentId: recorded.data.paymentId, at });
    case 'PaymentDeclined':
      return feed({ type: 'PaymentDeclined', reason: recorded.data.reason, at });
    case 'EmailFailed':
      return feed({ type: 'EmailFailed', error: recorded.data.error, at });
    default:
      // PaymentAuthorized, ProductAdded, ProductRestocked, the saga's own events: not inputs.
      return { kind: 'irrelevant', type: recorded.type };
  }
}
