import { currentVersion, type DomainEvent } from '@saga/event-schemas/catalog';
import type { LogPosition, NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import type { EventStore } from '@saga/platform/event-store/port';
import { deterministicId } from '@saga/platform/ids';

/**
 * Test and benchmark data: whole order stories as the services and the saga would append
 * them, in log order. Shared by the projection specs, the rebuild test and the benchmark.
 */
export interface StoryEvent {
  streamId: string;
  event: DomainEvent;
  at: string;
  correlationId: string;
}

export type Outcome = 'confirmed' | 'declined' | 'cancelled' | 'out-of-stock';

export interface OrderSpec {
  orderId: string;
  customerId: string;
  email: string;
  sku: string;
  name: string;
  quantity: number;
  unitPrice: number;
  currency: string;
  /** Milliseconds since the epoch of the first event; each next event is 1 ms later. */
  t0: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Fixture data is checked by the catalog when appended, not by the compiler. */
const ev = (type: string, data: Record<string, unknown>) => ({ type, data }) as unknown as DomainEvent;

export function productStory(products: { sku: string; name: string; price: number; currency: string; stock: number }[], t0: number): StoryEvent[] {
  return products.map((p, i) => ({
    streamId: 'inventory-warehouse',
    event: ev('ProductAdded', { sku: p.sku, name: p.name, price: p.price, currency: p.currency, stock: p.stock }),
    at: iso(t0 + i),
    correlationId: p.sku,
  }));
}

export function orderStory(o: OrderSpec, outcome: Outcome): StoryEvent[] {
  const out: StoryEvent[] = [];
  let t = o.t0;
  const push = (streamId: string, type: string, data: Record<string, unknown>) =>
    out.push({ streamId, event: ev(type, data), at: iso(t++), correlationId: o.orderId });
  const id = o.orderId;
  const items = [{ sku: o.sku, quantity: o.quantity }];
  const total = o.quantity * o.unitPrice;
  const startedAt = iso(o.t0 + 1);
  let state = 'reservingStock';
  const cmd = (step: string, type: string, data: Record<string, unknown>) => ({
    commandId: deterministicId(id, step),
    step,
    type,
    data,
  });
  const move = (input: string, to: string, status: string, commands: ReturnType<typeof cmd>[] = [], flags: string[] = []) => {
    push(`saga-${id}`, 'SagaTransitioned', {
      orderId: id,
      input: { type: input, eventId: deterministicId(id, input, t) },
      from: state,
      to,
      context: {},
      commands,
      timer: null,
      status,
      flags,
      at: iso(t),
    });
    state = to;
  };
  const end = (status: string) => {
    push(`saga-${id}`, 'SagaEnded', { orderId: id, status, flags: [], startedAt, endedAt: iso(t), durationMs: t - (o.t0 + 1) });
  };
  const email = (template: string, subject: string) =>
    push(`email-${id}`, 'EmailSent', {
      orderId: id,
      emailId: `mail-${id}`,
      to: o.email,
      template,
      subject,
      body: `${subject}.`,
      attempts: 1,
    });

  push(`order-${id}`, 'OrderPlaced', {
    orderId: id,
    customerId: o.customerId,
    customerEmail: o.email,
    items: [{ sku: o.sku, name: o.name, quantity: o.quantity, unitPrice: o.unitPrice }],
    total,
    currency: o.currency,
    payment: { method: 'card', token: `tok-${id}`, last4: '4242' },
    placedAt: iso(o.t0),
  });
  push(`saga-${id}`, 'SagaStarted', {
    orderId: id,
    inputEventId: deterministicId(id, 'placed'),
    state,
    context: {},
    commands: [cmd('reserveStock', 'ReserveStock', { orderId: id, items })],
    timer: { step: 'reserveStock', dueAt: iso(o.t0 + 30_000) },
    at: startedAt,
  });
  if (outcome === 'out-of-stock') {
    push('inventory-warehouse', 'StockReservationFailed', {
      orderId: id,
      reason: 'out of stock',
      shortages: [{ sku: o.sku, requested: o.quantity, available: 0 }],
    });
    move('StockReservationFailed', 'rejectingOrder', 'running', [cmd('rejectOrder', 'RejectOrder', { orderId: id, reason: 'out of stock' })]);
    push(`order-${id}`, 'OrderRejected', { orderId: id, reason: 'out of stock', rejectedAt: iso(t) });
    move('OrderRejected', 'sendingEmail', 'running');
    email('order-rejected', 'Your order was rejected');
    move('EmailSent', 'rejected', 'rejected');
    end('rejected');
    return out;
  }
  push('inventory-warehouse', 'StockReserved', { orderId: id, items });
  move('StockReserved', 'chargingPayment', 'running', [cmd('chargePayment', 'ChargePayment', { orderId: id, amount: total, currency: o.currency, paymentToken: `tok-${id}` })]);
  if (outcome === 'declined') {
    push(`payment-${id}`, 'PaymentDeclined', { orderId: id, amount: total, currency: o.currency, reason: 'card_declined', message: 'declined', attempts: 1 });
    move('PaymentDeclined', 'releasingStock', 'running');
    push('inventory-warehouse', 'StockReleased', { orderId: id, items });
    move('StockReleased', 'rejectingOrder', 'running');
    push(`order-${id}`, 'OrderRejected', { orderId: id, reason: 'payment declined', rejectedAt: iso(t) });
    move('OrderRejected', 'sendingEmail', 'running');
    email('order-rejected', 'Your order was rejected');
    move('EmailSent', 'rejected', 'rejected');
    end('rejected');
    return out;
  }
  const paymentId = `pay-${id}`;
  push(`payment-${id}`, 'PaymentAuthorized', { orderId: id, paymentId, amount: total, currency: o.currency, attempts: 1 });
  push(`payment-${id}`, 'PaymentCaptured', { orderId: id, paymentId, amount: total, currency: o.currency });
  if (outcome === 'cancelled') {
    push(`order-${id}`, 'OrderCancellationRequested', { orderId: id, requestedAt: iso(t) });
    move('OrderCancellationRequested', 'refundingPayment', 'running');
    push(`payment-${id}`, 'PaymentRefunded', { orderId: id, paymentId, amount: total, currency: o.currency, reason: 'cancelled' });
    move('PaymentRefunded', 'releasingStock', 'running');
    push('inventory-warehouse', 'StockReleased', { orderId: id, items });
    move('StockReleased', 'cancellingOrder', 'running');
    push(`order-${id}`, 'OrderCancelled', { orderId: id, reason: 'customer asked', cancelledAt: iso(t) });
    move('OrderCancelled', 'sendingEmail', 'running');
    email('order-cancelled', 'Your order was cancelled');
    move('EmailSent', 'cancelled', 'cancelled');
    end('cancelled');
    return out;
  }
  move('PaymentCaptured', 'confirmingOrder', 'running');
  push(`order-${id}`, 'OrderConfirmed', { orderId: id, confirmedAt: iso(t) });
  move('OrderConfirmed', 'committingStock', 'running');
  push('inventory-warehouse', 'StockCommitted', { orderId: id, items });
  move('StockCommitted', 'sendingEmail', 'running');
  email('order-confirmed', 'Your order is confirmed');
  move('EmailSent', 'completed', 'completed');
  end('completed');
  return out;
}

/** The n-th position of a made-up log: opaque, sparse and fixed-width like a real store's (they sort as strings). */
export const positionAt = (n: number): LogPosition => String(n * 10).padStart(16, '0') as LogPosition;

/** Gives a story revisions per stream and positions in the global log, as the store would. */
export function record(story: StoryEvent[], options: { startPosition?: number; revisions?: Map<string, number> } = {}): RecordedEvent[] {
  const revisions = options.revisions ?? new Map<string, number>();
  let position = options.startPosition ?? 1;
  return story.map((s) => {
    const revision = (revisions.get(s.streamId) ?? -1) + 1;
    revisions.set(s.streamId, revision);
    return {
      ...s.event,
      eventId: deterministicId(s.streamId, revision),
      streamId: s.streamId,
      revision,
      position: positionAt(position++),
      metadata: { correlationId: s.correlationId, causationId: s.correlationId, schemaVersion: currentVersion(s.event.type), occurredAt: s.at },
    } as RecordedEvent;
  });
}

/** The same story as appends for an event store. */
export function toNewEvent(s: StoryEvent, eventId: string): NewEvent {
  return {
    eventId,
    type: s.event.type,
    data: s.event.data,
    metadata: { correlationId: s.correlationId, causationId: s.correlationId, occurredAt: s.at },
  } as NewEvent;
}

/** Appends stories through an event store, one append per run of events of one stream. */
export async function appendStory(store: EventStore, story: StoryEvent[]): Promise<void> {
  let i = 0;
  while (i < story.length) {
    const streamId = story[i]!.streamId;
    let j = i;
    while (j < story.length && story[j]!.streamId === streamId) j++;
    const revision = await store.streamRevision(streamId);
    await store.append(
      streamId,
      story.slice(i, j).map((s, k) => toNewEvent(s, deterministicId(streamId, revision + 1 + k))),
    );
    i = j;
  }
}

export function customerOrder(n: number, t0: number, customers = 10): OrderSpec {
  return {
    orderId: `ord-${n}`,
    customerId: `cust-${n % customers}`,
    email: `cust-${n % customers}@example.com`,
    sku: `SKU-${n % 5}`,
    name: `Product ${n % 5}`,
    quantity: 1 + (n % 3),
    unitPrice: 500 + 100 * (n % 5),
    currency: 'EUR',
    t0,
  };
}

export const outcomeOf = (n: number): Outcome => (['confirmed', 'confirmed', 'declined', 'cancelled', 'confirmed', 'out-of-stock'] as const)[n % 6]!;

export const demoCatalog = (stock: number) =>
  [0, 1, 2, 3, 4].map((i) => ({ sku: `SKU-${i}`, name: `Product ${i}`, price: 500 + 100 * i, currency: 'EUR', stock }));
