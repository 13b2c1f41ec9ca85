import type { RecordedEvent } from '@saga/event-schemas/envelope';

/** Orders fed from two streams each (order and payment), for two projector replicas to share. */
export function replicaEvents(orders: number): { order: RecordedEvent[]; payment: RecordedEvent[] } {
  const metadata = (i: number) => ({ correlationId: `o${i}`, causationId: `c${i}`, schemaVersion: 1, occurredAt: '2026-01-01T00:00:00.000Z' });
  const order: RecordedEvent[] = [];
  const payment: RecordedEvent[] = [];
  let position = 0;
  // Positions are opaque fixed-width strings that sort in log order, as the stores hand them out.
  const at = (n: number) => String((n + 1) * 10).padStart(16, '0');
  for (let i = 0; i < orders; i++) {
    const orderId = `o${i}`;
    const base = { metadata: metadata(i) };
    order.push({ ...base, eventId: `p${i}`, type: 'OrderPlaced', streamId: `order-${orderId}`, revision: 0, position: at(position++), data: { orderId, total: 10 + (i % 7), currency: 'EUR' } } as unknown as RecordedEvent);
    payment.push({ ...base, eventId: `c${i}`, type: 'PaymentCaptured', streamId: `payment-${orderId}`, revision: 0, position: at(position++), data: { orderId, amount: 10 + (i % 7), currency: 'EUR' } } as unknown as RecordedEvent);
    order.push({ ...base, eventId: `k${i}`, type: 'OrderConfirmed', streamId: `order-${orderId}`, revision: 1, position: at(position++), data: { orderId } } as unknown as RecordedEvent);
  }
  return { order, payment };
}
