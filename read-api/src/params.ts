import { z } from 'zod';
import type { LogPosition } from '@saga/event-schemas/envelope';
import { OrderId } from '@saga/event-schemas/ids';

/**
 * Query and path parameters. Every schema is strict: an unknown parameter, a repeated one
 * (which would arrive as an array) or an object (`status[$gt]=`) is a 400, and filters are
 * then built by code from these typed values only.
 */
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?[0-9]{1,16}$/, { error: 'expected an integer' })
    .transform(Number)
    .pipe(z.int().min(min).max(max))
    // The document says what a client may send: an integer in range (query strings carry it as text).
    .meta({
      override: ({ jsonSchema }) => {
        for (const key of Object.keys(jsonSchema)) delete jsonSchema[key];
        Object.assign(jsonSchema, { type: 'integer', minimum: min, maximum: max });
      },
    });

export const limitParam = (max: number) => integer(1, max).optional();
export const positionParam = integer(0, Number.MAX_SAFE_INTEGER);
/**
 * A global log position as the event store handed it out: an opaque cursor, passed back
 * unchanged. Only its shape is checked here; whether it is an event's, the store decides.
 */
export const logPositionParam = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,100}$/, { error: 'not a log position' })
  .transform((p) => p as LogPosition);
export const cursorParam = z.string().min(1).max(512).regex(/^[A-Za-z0-9_-]+$/, { error: 'not a cursor' });

export const OrderStatusParam = z.enum(['pending', 'confirmed', 'rejected', 'cancelled']);
export const SagaStatusParam = z.enum(['running', 'completed', 'rejected', 'cancelled']);

/** The start of an order id, for the search box: made of what ids are made of. */
const orderIdPrefix = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: "the start of an order id: letters, digits, '-' or '_'" });
/** An instant, as the lists' times are stored (ISO 8601 in UTC); a bound of a time window. */
const instant = z.iso.datetime({ offset: true, error: 'an ISO 8601 date and time, e.g. 2026-12-01T09:00:00Z' }).transform((s) => new Date(s).toISOString());
const customerEmail = z.string().max(254).regex(z.regexes.email, { error: 'not an email address' }).transform((s) => s.trim().toLowerCase());
/** The list filters shared by orders and sagas: id prefix and a time window [since, until). */
const listFilters = {
  q: orderIdPrefix.optional(),
  since: instant.optional(),
  until: instant.optional(),
};
const windowInOrder = (q: { since?: string | undefined; until?: string | undefined }) => q.since === undefined || q.until === undefined || q.since < q.until;

export const OrdersQuery = z
  .strictObject({
    status: OrderStatusParam.optional(),
    /** Admins: one customer's orders (a customer only ever sees their own). */
    customerId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'not a customer id' }).optional(),
    /** Admins: one customer's orders, by their email address. */
    customer: customerEmail.optional(),
    ...listFilters,
    cursor: cursorParam.optional(),
    limit: limitParam(100),
  })
  .refine(windowInOrder, { error: 'since must be before until', path: ['until'] });
export const SagasQuery = z
  .strictObject({
    status: SagaStatusParam.optional(),
    /** One customer's sagas, by their email address (through their orders). */
    customer: customerEmail.optional(),
    ...listFilters,
    cursor: cursorParam.optional(),
    limit: limitParam(100),
  })
  .refine(windowInOrder, { error: 'since must be before until', path: ['until'] });
export const MailboxQuery = z.strictObject({
  cursor: cursorParam.optional(),
  limit: limitParam(100),
  /** Admins: only the mail to this address (customers only ever see their own). */
  // zod's email rule as a plain pattern: the document then states exactly what is accepted (JSON
  // Schema's `format: email` is a looser or stricter rule depending on the checker).
  to: z.string().max(254).regex(z.regexes.email, { error: 'not an email address' }).optional(),
});
export const EmptyQuery = z.strictObject({});
/** `version`: the counts of the sagas running that definition version only. */
export const SagaStatsQuery = z.strictObject({ version: integer(1, 1_000_000).optional() });
const stateName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, { error: 'not a state name' });
export const SagaStateParams = z.strictObject({ state: stateName });
export const SagaEdgeParams = z.strictObject({ from: stateName, to: stateName });
const isoTime = z.iso.datetime({ error: 'expected an ISO 8601 time, e.g. 2026-01-01T00:00:00Z' });
/** Instances of a state or an edge, narrowed by order id prefix, customer email, time window and version. */
export const SagaStateInstancesQuery = z.strictObject({
  cursor: cursorParam.optional(),
  limit: limitParam(200),
  orderId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'not an order id (prefix)' }).optional(),
  customer: z.string().max(254).regex(z.regexes.email, { error: 'not an email address' }).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  version: integer(1, 1_000_000).optional(),
});

export const OrderIdParams = z.strictObject({ orderId: OrderId });

/** `<category>-<id>` with the characters ids and categories are made of. */
export const StreamIdParams = z.strictObject({ streamId: z.string().regex(/^[a-z]{1,32}(-[A-Za-z0-9_-]{1,64})?$/, { error: 'not a stream id' }) });
export const StreamsQuery = z.strictObject({
  category: z.string().regex(/^[a-z]{1,32}$/).optional(),
  after: z.string().max(200).optional(),
  /** Stream-name search: ids that start with this (e.g. `inventory-w`, `order-3f2`). */
  prefix: z.string().regex(/^[a-z][A-Za-z0-9_-]{0,96}$/, { error: 'letters, digits, dash and underscore, starting with a category letter' }).optional(),
  limit: limitParam(500),
});
const eventTypeList = z
  .string()
  .regex(/^[A-Za-z]{1,64}(,[A-Za-z]{1,64}){0,19}$/, { error: 'event type names, comma-separated' })
  .transform((s) => s.split(','));
export const StreamEventsQuery = z.strictObject({
  /** Inclusive revision to start at; default the first (forwards) or the last (backwards). */
  from: positionParam.optional(),
  direction: z.enum(['forwards', 'backwards']).optional(),
  /** Only events of these types; `next` still continues where the scan stopped. */
  type: eventTypeList.optional(),
  limit: limitParam(500),
});
export const StreamStateQuery = z.strictObject({ revision: positionParam.optional() });
export const LogQuery = z
  .strictObject({
    /** Inclusive: the page starts with the event at this position (what `next` holds). */
    from: logPositionParam.optional(),
    /** Exclusive: the page starts with the first event after this position. */
    after: logPositionParam.optional(),
    /** `backwards` reads from the head (or `from`) towards the start, newest first. */
    direction: z.enum(['forwards', 'backwards']).optional(),
    /** Only events of these types (comma-separated); paging by position works the same. */
    type: eventTypeList.optional(),
    limit: limitParam(500),
  })
  .refine((q) => q.from === undefined || q.after === undefined, { error: 'give from or after, not both', path: ['after'] })
  .refine((q) => q.direction !== 'backwards' || q.after === undefined, { error: 'after reads forwards; backwards takes from', path: ['after'] });

export const ProjectionParams = z.strictObject({ name: z.string().regex(/^[a-z]{1,32}$/, { error: 'not a projection name' }) });

export const GroupId = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, { error: 'group ids are letters, digits, dot, dash, underscore' });
export const ReplayRequest = z
  .strictObject({
    groupId: GroupId,
    /** Inclusive: an event's position, as the log handed it out. */
    fromPosition: logPositionParam,
    /** Inclusive; default: the head of the log. */
    toPosition: logPositionParam.optional(),
    /** `topic` (default): publish the range to `replay.<groupId>`, which only that group reads. */
    mode: z.enum(['topic']).default('topic'),
  })
  // Positions are opaque but compare as strings in log order.
  .refine((r) => r.toPosition === undefined || r.toPosition >= r.fromPosition, { error: 'toPosition must not be before fromPosition', path: ['toPosition'] });

export const LiveQuery = z.strictObject({
  access_token: z.string().max(4096).optional(),
  /** A one-use ticket from POST /api/live/ticket (checked before this schema, by the live route). */
  ticket: z.string().max(64).optional(),
  /** Resume point when the client cannot send Last-Event-ID (it is the global position). */
  lastEventId: logPositionParam.optional(),
});
