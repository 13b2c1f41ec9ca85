import { currentVersion, type DomainEvent } from '@saga/event-schemas/catalog';
import type { LogPosition, NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import type { EventStore } from '@saga/platform/event-store/port';
import type { LineItem, OrderId } from '@saga/event-schemas/ids';
import { deterministicId } from '@saga/platform/ids';
import { latestVersion } from '@saga/saga-orchestrator/definitions';
import { commandsOf, type SagaEvent, type SagaInput } from '@saga/saga-orchestrator/machine';
import { issuedCommands, startedEvents, transitionEvents, type SagaRecord } from '@saga/saga-orchestrator/saga-stream';

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

/** `confirmed-after-retry`: ConfirmOrder times out once and is re-sent before the order is confirmed. */
export type Outcome = 'confirmed' | 'declined' | 'cancelled' | 'out-of-stock' | 'confirmed-after-retry';

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

/** The saga's step timeout in the stories: deadlines are 30 s after each step starts. */
export const storyStepTimeoutMs = 30_000;

/**
 * One order's story. The service events are written here; the saga's events are produced by
 * the real saga machine (its newest definition, as the runtime starts new sagas), fed each
 * service event as the runtime would, so they can never drift from the machine.
 */
export function orderStory(o: OrderSpec, outcome: Outcome): StoryEvent[] {
  const out: StoryEvent[] = [];
  let t = o.t0;
  const id = o.orderId;
  const sagaStream = `saga-${id}`;
  const version = latestVersion;
  let saga: SagaRecord | null = null;
  let inputs = 0;
  const items = [{ sku: o.sku, quantity: o.quantity }];
  const total = o.quantity * o.unitPrice;
  const pushSaga = (events: NewEvent[]) => {
    for (const e of events) out.push({ streamId: sagaStream, event: ev(e.type, e.data as Record<string, unknown>), at: iso(t++), correlationId: id });
  };
  /** The saga applies an input now (as the runtime would, stamped with the time it applies it). */
  const feed = (input: SagaEvent, eventId: string) => {
    if (!saga) return;
    const event = { ...input, at: iso(t) } as SagaEvent;
    const [snapshot, actions] = version.stepper.next(saga.snapshot, event);
    const commands = issuedCommands(id, commandsOf(actions));
    if (snapshot === saga.snapshot && commands.length === 0) return;
    const events = transitionEvents(saga, { type: input.type, eventId, event }, snapshot, commands, event.at);
    saga = { ...saga, revision: saga.revision + events.length, snapshot, state: String(snapshot.value) };
    pushSaga(events);
  };
  /** A service event, then what the saga makes of it (judged by when the service recorded it). */
  const push = (streamId: string, type: string, data: Record<string, unknown>, input?: SagaEvent) => {
    const recordedAt = iso(t);
    out.push({ streamId, event: ev(type, data), at: iso(t++), correlationId: id });
    if (input) feed({ ...input, recordedAt } as SagaEvent, deterministicId(streamId, type, String(inputs++)));
  };
  const email = (template: string, subject: string) =>
    push(
      `email-${id}`,
      'EmailSent',
      { orderId: id, emailId: `mail-${id}`, to: o.email, template, subject, body: `${subject}.`, attempts: 1 },
      { type: 'EmailSent', at: '' },
    );

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
  const startedAt = iso(t);
  const sagaInput: SagaInput = {
    orderId: id as OrderId,
    customerEmail: o.email,
    items: items as LineItem[],
    total,
    currency: o.currency,
    paymentToken: `tok-${id}`,
    stepTimeoutMs: storyStepTimeoutMs,
    startedAt,
  };
  const [first, firstActions] = version.stepper.initial(sagaInput);
  const placedId = deterministicId(id, 'placed');
  const started = startedEvents(id, placedId, first, issuedCommands(id, commandsOf(firstActions)), startedAt, version.version);
  saga = { orderId: id, version, revision: 0, snapshot: first, state: String(first.value), seen: new Set([placedId]) };
  pushSaga(started);

  if (outcome === 'out-of-stock') {
    push(
      'inventory-warehouse',
      'StockReservationFailed',
      { orderId: id, reason: 'out of stock', shortages: [{ sku: o.sku, requested: o.quantity, available: 0 }] },
      { type: 'StockReservationFailed', reason: 'out of stock', at: '' },
    );
    push(`order-${id}`, 'OrderRejected', { orderId: id, reason: 'out of stock', rejectedAt: iso(t) }, { type: 'OrderRejected', at: '' });
    email('order-rejected', 'Your order was rejected');
    return out;
  }
  push('inventory-warehouse', 'StockReserved', { orderId: id, items }, { type: 'StockReserved', at: '' });
  if (outcome === 'declined') {
    push(
      `payment-${id}`,
      'PaymentDeclined',
      { orderId: id, amount: total, currency: o.currency, reason: 'card_declined', message: 'declined', attempts: 1 },
      { type: 'PaymentDeclined', reason: 'card_declined', at: '' },
    );
    push('inventory-warehouse', 'StockReleased', { orderId: id, items }, { type: 'StockReleased', at: '' });
    push(`order-${id}`, 'OrderRejected', { orderId: id, reason: 'payment declined', rejectedAt: iso(t) }, { type: 'OrderRejected', at: '' });
    email('order-rejected', 'Your order was rejected');
    return out;
  }
  const paymentId = `pay-${id}`;
  push(`payment-${id}`, 'PaymentAuthorized', { orderId: id, paymentId, amount: total, currency: o.currency, attempts: 1 });
  push(`payment-${id}`, 'PaymentCaptured', { orderId: id, paymentId, amount: total, currency: o.currency }, { type: 'PaymentCaptured', paymentId, at: '' });
  if (outcome === 'cancelled') {
    // Cancelled while the order was being confirmed: refund, release, cancel, email.
    push(`order-${id}`, 'OrderCancellationRequested', { orderId: id, requestedAt: iso(t) }, { type: 'OrderCancellationRequested', at: '' });
    push(`payment-${id}`, 'PaymentRefunded', { orderId: id, paymentId, amount: total, currency: o.currency, reason: 'cancelled' }, { type: 'PaymentRefunded', at: '' });
    push('inventory-warehouse', 'StockReleased', { orderId: id, items }, { type: 'StockReleased', at: '' });
    push(`order-${id}`, 'OrderCancelled', { orderId: id, reason: 'customer asked', cancelledAt: iso(t) }, { type: 'OrderCancelled', at: '' });
    email('order-cancelled', 'Your order was cancelled');
    return out;
  }
  if (outcome === 'confirmed-after-retry') {
    // The pivot's deadline passes (the runtime fires it once due): the same ConfirmOrder again.
    const timer = saga.snapshot.context.timer!;
    t = Date.parse(timer.dueAt);
    feed({ type: 'StepTimedOut', step: timer.step, at: '' }, deterministicId(id, 'timeout', timer.step, timer.dueAt));
  }
  push(`order-${id}`, 'OrderConfirmed', { orderId: id, confirmedAt: iso(t) }, { type: 'OrderConfirmed', at: '' });
  push('inventory-warehouse', 'StockCommitted', { orderId: id, items }, { type: 'StockCommitted', at: '' });
  email('order-confirmed', 'Your order is confirmed');
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
