import { z } from 'zod';
import type { DomainEvent, EventType, EventData } from './catalog';

/** Metadata every event carries. */
export const EventMetadata = z.strictObject({
  /** The order (or other business transaction) this event belongs to. */
  correlationId: z.string().min(1).max(200),
  /** The command or event that caused this one. */
  causationId: z.string().min(1).max(200),
  userId: z.string().max(200).optional(),
  schemaVersion: z.int().positive(),
  occurredAt: z.iso.datetime(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;

/** An event to append. `eventId` should be deterministic where the append may be retried. */
export interface NewEvent<T extends EventType = EventType> {
  eventId: string;
  type: T;
  data: EventData<T>;
  metadata: Omit<EventMetadata, 'schemaVersion' | 'occurredAt'> & { occurredAt?: string };
}

/**
 * A place in the global log, handed out by the event store: an opaque cursor. Never parse or
 * compute one: on EventStoreDB it is a commit/prepare byte-offset pair, and `p + 1` lands inside
 * a record; pass back only positions the store returned. Positions of one store compare in log
 * order as plain strings (each adapter writes them fixed-width), so `a < b` means a came first.
 */
export type LogPosition = string & { readonly __brand: 'LogPosition' };

/** An event as stored: its place in its stream (revision, from 0) and in the global log (position). */
export type RecordedEvent<E extends DomainEvent = DomainEvent> = E & {
  eventId: string;
  streamId: string;
  revision: number;
  position: LogPosition;
  metadata: EventMetadata;
};

export type RecordedEventOf<T extends EventType> = RecordedEvent<Extract<DomainEvent, { type: T }>>;

export const RecordedEventJson = z.object({
  eventId: z.string(),
  type: z.string(),
  streamId: z.string(),
  revision: z.int().nonnegative(),
  position: z.string().min(1).max(100).transform((p) => p as LogPosition),
  data: z.unknown(),
  metadata: EventMetadata,
});
