import { z } from 'zod';
import { EventMetadata } from '@saga/event-schemas/envelope';

/**
 * The read API's response bodies as zod schemas, for the OpenAPI document. Read models grow
 * fields as projections learn more, so objects stay open (`looseObject`): the document
 * promises the fields named here, a client must ignore the ones it does not know.
 */
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();
const iso = z.string().meta({ format: 'date-time' });
/** A global log position: an opaque cursor the event store hands out; pass it back unchanged. */
const logPosition = z.string().meta({ description: 'An opaque global log position' });
const cursor = nullable(z.string()).meta({ description: 'Pass as `cursor` for the next page; null on the last one' });

export const Product = z
  .looseObject({ sku: z.string(), name: z.string(), price: z.int(), currency: z.string(), available: z.int(), reserved: z.int() })
  .meta({ id: 'Product' });
export const ProductList = z.object({ items: z.array(Product) });

const TimelineEntry = z.looseObject({ position: logPosition, streamId: z.string(), revision: z.int(), type: z.string(), at: iso });

export const Order = z
  .looseObject({
    orderId: z.string(),
    customerId: nullable(z.string()),
    customerEmail: nullable(z.string()),
    status: z.enum(['pending', 'confirmed', 'rejected', 'cancelled']),
    items: z.array(z.looseObject({ sku: z.string(), quantity: z.int(), unitPrice: z.int() })),
    total: z.int(),
    currency: nullable(z.string()),
    paymentMethod: nullable(z.looseObject({ last4: z.string() })),
    reason: nullable(z.string()),
    cancellationRequested: z.boolean(),
    stock: z.looseObject({ status: z.enum(['none', 'reserved', 'unavailable', 'released', 'committed']), reason: nullable(z.string()) }),
    payment: z.looseObject({
      status: z.enum(['none', 'authorized', 'captured', 'declined', 'refunded']),
      paymentId: nullable(z.string()),
      captured: z.int(),
      refunded: z.int(),
      declineReason: nullable(z.string()),
    }),
    email: z.looseObject({ status: z.enum(['none', 'sent', 'failed']), template: nullable(z.string()), attempts: z.int() }),
    saga: z.looseObject({ state: nullable(z.string()), status: nullable(z.string()), flags: z.array(z.string()) }),
    timeline: z.array(TimelineEntry),
  })
  .meta({ id: 'Order' });
export const OrderPage = z.object({ items: z.array(Order), nextCursor: cursor });

export const SagaStuck = z
  .object({
    step: z.string(),
    reason: z.enum(['dead-lettered', 'retries-exhausted']),
    error: nullable(z.string()),
    since: iso,
  })
  .meta({ id: 'SagaStuck', description: 'The saga cannot go on by itself: a command it needs was dead-lettered, or a step was re-sent past its limit' });

export const Saga = z
  .looseObject({
    orderId: z.string(),
    version: z.int().meta({ description: 'The saga definition version it runs' }),
    state: z.string(),
    stuck: nullable(SagaStuck),
    status: z.enum(['running', 'completed', 'rejected', 'cancelled']),
    flags: z.array(z.string()),
    history: z.array(
      z.looseObject({
        from: nullable(z.string()),
        to: z.string(),
        input: z.looseObject({ type: z.string(), eventId: z.string() }),
        at: iso,
        commands: z.array(z.string()),
        operator: z.object({ id: z.string(), action: z.string(), reason: z.string() }).optional(),
      }),
    ),
    steps: z.array(z.looseObject({ state: z.string(), enteredAt: iso, leftAt: nullable(iso), durationMs: nullable(z.number()) })),
    timer: nullable(z.looseObject({ step: z.string(), dueAt: iso })),
    startedAt: iso,
    endedAt: nullable(iso),
    durationMs: nullable(z.number()),
  })
  .meta({ id: 'Saga' });
export const SagaPage = z.object({ items: z.array(Saga), nextCursor: cursor });

/** Exact counts from the saga-stats projection (not a sample). */
export const SagaStats = z
  .object({
    total: z.int(),
    states: z.record(z.string(), z.int()).meta({ description: 'Sagas whose current state this is' }),
    transitions: z.record(z.string(), z.int()).meta({ description: '`from->to` -> times the edge was taken' }),
  })
  .meta({ id: 'SagaStats' });
export const SagaInStatePage = z.object({
  items: z.array(
    z.looseObject({
      orderId: z.string(),
      version: z.int(),
      customer: z.string(),
      state: z.string(),
      status: z.enum(['running', 'completed', 'rejected', 'cancelled']),
      startedAt: iso,
      since: iso,
    }),
  ),
  nextCursor: cursor,
});
export const SagaOnEdgePage = z.object({
  items: z.array(
    z.looseObject({
      orderId: z.string(),
      version: z.int(),
      customer: z.string(),
      edge: z.string().meta({ description: '`from->to`' }),
      at: iso.meta({ description: 'When the instance first took it' }),
      count: z.int().meta({ description: 'How many times it took it' }),
    }),
  ),
  nextCursor: cursor,
});

const counts = z.record(z.string(), z.number());
export const Stats = z
  .looseObject({
    orders: counts,
    capturedTotal: z.number(),
    refundedTotal: z.number(),
    confirmedTotal: z.number(),
    byCurrency: z.record(z.string(), z.looseObject({ captured: z.number(), refunded: z.number(), confirmed: z.number() })),
    sagas: counts,
    sagaDurations: z.record(z.string(), z.looseObject({ count: z.int(), totalMs: z.number(), averageMs: nullable(z.number()) })),
  })
  .meta({ id: 'Stats', description: 'Invariant: capturedTotal - refundedTotal = confirmedTotal' });

export const MailboxPage = z.object({
  items: z.array(
    z.object({
      emailId: z.string(),
      orderId: z.string(),
      to: z.string(),
      subject: nullable(z.string()),
      body: nullable(z.string()),
      template: z.string(),
      status: z.enum(['sent', 'failed']),
      error: nullable(z.string()),
      attempts: z.int(),
      sentAt: nullable(iso),
    }),
  ),
  nextCursor: cursor,
});

export const RecordedEvent = z
  .looseObject({
    eventId: z.string(),
    type: z.string(),
    streamId: z.string(),
    revision: z.int().min(0),
    position: logPosition,
    data: z.looseObject({}),
    metadata: EventMetadata,
  })
  .meta({ id: 'RecordedEvent' });

export const StreamList = z.object({
  categories: z.array(z.looseObject({ category: z.string() })),
  streams: z.array(
    z.looseObject({ streamId: z.string(), category: z.string(), revision: z.int(), lastPosition: logPosition, updatedAt: iso }),
  ),
  next: nullable(z.string()).meta({ description: 'Pass as `after` for the next page' }),
});

export const StreamEvents = z.object({
  streamId: z.string(),
  revision: z.int().meta({ description: 'The stream’s last revision' }),
  direction: z.enum(['forwards', 'backwards']),
  events: z.array(RecordedEvent),
  next: nullable(z.int()).meta({ description: 'Pass as `from` (same direction) for the next page; null at that end' }),
  previous: nullable(z.int()).meta({ description: 'Pass as `from` with the other direction to turn back; null at that end' }),
});

export const StreamState = z.object({
  streamId: z.string(),
  revision: z.int(),
  lastRevision: z.int(),
  state: z.unknown().meta({ description: 'The aggregate’s state folded up to `revision`' }),
  event: nullable(RecordedEvent),
  changes: z.array(z.looseObject({ op: z.enum(['add', 'remove', 'replace']), path: z.string().meta({ description: 'A JSON pointer' }) })).meta({ description: 'What the event at `revision` changed' }),
});

export const LogPage = z.object({
  events: z.array(RecordedEvent),
  head: nullable(logPosition).meta({ description: 'The position of the last event (null when the log is empty)' }),
  next: nullable(logPosition).meta({ description: 'Pass as `from` for the next page' }),
});

export const ReplayResult = z.object({
  groupId: z.string(),
  topic: z.string(),
  fromPosition: logPosition,
  toPosition: nullable(logPosition),
  published: z.int(),
  mode: z.enum(['topic']),
});

export const RebuildProgress = z
  .looseObject({
    projection: z.string(),
    phase: z.string(),
    eventsDone: z.int(),
    total: nullable(z.int()).meta({ description: 'Events to read, as counted at the start; null where the store cannot count' }),
    rate: z.number(),
    etaSeconds: nullable(z.number()),
    position: nullable(logPosition),
    startedAt: iso,
    finishedAt: nullable(iso),
    verification: nullable(z.looseObject({ shadowCount: z.int(), liveCount: z.int() })),
    error: nullable(z.string()),
  })
  .meta({ id: 'RebuildProgress' });

export const ProjectionList = z.object({
  items: z.array(
    z.looseObject({
      name: z.string(),
      status: z.string(),
      groupId: z.string(),
      position: nullable(logPosition),
      headPosition: nullable(logPosition),
      lag: z.int(),
      documents: z.int(),
      rebuild: nullable(RebuildProgress),
    }),
  ),
});
