import { z } from 'zod';
import { orderEvents, OrderPlacedV1 } from './order';
import { inventoryEvents } from './inventory';
import { paymentEvents } from './payment';
import { emailEvents } from './email';
import { sagaEvents } from './saga';
import type { Category } from './streams';

type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

interface CatalogEntry {
  category: Category;
  /** The current schema version; events are always written at this version. */
  version: number;
  schema: z.ZodType;
  /** `upcasters[v]` turns version v into v + 1; older schemas validate the input to each step. */
  upcasters?: Record<number, { from: z.ZodType; up: Upcaster }>;
}

const entries = <C extends Category, E extends Record<string, z.ZodType>>(category: C, events: E) =>
  Object.fromEntries(Object.entries(events).map(([type, schema]) => [type, { category, version: 1, schema }])) as {
    [K in keyof E]: { category: C; version: number; schema: E[K] };
  };

/** The explicit registry of every event type: wire name -> category, version, schema, upcasters. */
export const eventCatalog = {
  ...entries('order', orderEvents),
  OrderPlaced: {
    category: 'order',
    version: 2,
    schema: orderEvents.OrderPlaced,
    upcasters: {
      // v1 orders predate multi-currency: they were all in US dollars.
      1: { from: OrderPlacedV1, up: (v1) => ({ ...v1, currency: 'USD' }) },
    },
  },
  ...entries('inventory', inventoryEvents),
  ...entries('payment', paymentEvents),
  ...entries('email', emailEvents),
  ...entries('saga', sagaEvents),
} satisfies Record<string, CatalogEntry>;

export type EventType = keyof typeof eventCatalog;
export type EventData<T extends EventType> = z.infer<(typeof eventCatalog)[T]['schema']>;
/** A domain event as the deciders see it: a discriminated union on `type`. */
export type DomainEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

export const eventTypes = Object.keys(eventCatalog) as EventType[];

export function isEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(eventCatalog, type);
}

export function currentVersion(type: EventType): number {
  return eventCatalog[type].version;
}

export class UnknownEventTypeError extends Error {
  constructor(readonly eventType: string) {
    super(`unknown event type '${eventType}'`);
    this.name = 'UnknownEventTypeError';
  }
}

/** Validates event data on its way into the store; throws a ZodError listing the issues. */
export function validateEvent<T extends EventType>(type: T, data: unknown): EventData<T>;
export function validateEvent(type: string, data: unknown): unknown;
export function validateEvent(type: string, data: unknown): unknown {
  if (!isEventType(type)) throw new UnknownEventTypeError(type);
  return eventCatalog[type].schema.parse(data);
}

/** Like validateEvent, but returns the zod result instead of throwing. */
export function checkEvent(type: string, data: unknown): z.ZodSafeParseResult<unknown> | { success: false; error: UnknownEventTypeError } {
  if (!isEventType(type)) return { success: false, error: new UnknownEventTypeError(type) };
  return eventCatalog[type].schema.safeParse(data);
}

/**
 * Reads stored data written at `version` as the current version, one upcaster at a time.
 * Stored rows are trusted (they were validated on append), so only upcasted data is re-checked.
 */
export function upcast(type: EventType, version: number, data: unknown): unknown {
  const entry: CatalogEntry = eventCatalog[type];
  let current = data as Record<string, unknown>;
  for (let v = version; v < entry.version; v++) {
    const step = entry.upcasters?.[v];
    if (!step) throw new Error(`no upcaster for ${type} v${v} -> v${v + 1}`);
    current = step.up(step.from.parse(current) as Record<string, unknown>);
  }
  return version < entry.version ? entry.schema.parse(current) : current;
}
