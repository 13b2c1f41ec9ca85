import type { LogPosition, NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { AppError, ValidationError, type Issue } from '../errors';

/**
 * The event store, with EventStoreDB's semantics. Revisions count from 0 within a stream and
 * are numbers; global positions are opaque cursors (`LogPosition`): ordered, never dense,
 * never computed. A page of the log is read "after" the last position of the one before.
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendResult {
  /** Revision of the last event now in the stream (pass it as the next expected revision). */
  nextExpectedRevision: number;
  /** Global position of the last appended event (of the log's last event for an empty append; null on an empty log). */
  position: LogPosition | null;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  direction?: Direction;
  /** Inclusive. Defaults to 'start' forwards and 'end' backwards. */
  fromRevision?: number | 'start' | 'end';
  limit?: number;
}

export interface LogFilter {
  eventTypes?: string[];
  streamPrefixes?: string[];
}

/**
 * Where a read of the global log starts. Forwards: `after` a position (exclusive, how pages
 * follow each other), or `fromPosition` (inclusive), default the start. Backwards: from a
 * position (inclusive) or from the end, the default. A position that is not an event's is
 * refused with an InvalidPositionError, never read from.
 */
export type ReadAllOptions = { limit?: number; filter?: LogFilter } & (
  | { direction?: 'forwards'; after?: LogPosition; fromPosition?: never }
  | { direction?: 'forwards'; fromPosition?: LogPosition | 'start' | 'end'; after?: never }
  | { direction: 'backwards'; fromPosition?: LogPosition | 'end'; after?: never }
);

export interface SubscribeOptions {
  /** Exclusive checkpoint: delivery starts with the first event after it. Default: from the start. */
  after?: LogPosition;
  filter?: LogFilter;
  /** Called once when the catch-up phase has reached the head and the subscription is live. */
  onCaughtUp?: () => void;
}

export interface StreamSubscribeOptions {
  /** Exclusive: delivery starts with revision `after + 1`. Default: from the start. */
  after?: number;
  onCaughtUp?: () => void;
}

/**
 * A pull-based subscription: the store reads ahead only as far as the consumer pulls, so a
 * slow consumer never makes it buffer without bound. Catch-up then live, no gap, no duplicate.
 */
export interface EventSubscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
  /** Events the adapter holds that the consumer has not pulled yet (bounded by a page), where it can tell. */
  readonly buffered?: number;
}

export interface StreamInfo {
  streamId: string;
  category: string;
  /** Revision of the stream's last event. */
  revision: number;
  lastPosition: LogPosition;
  updatedAt: string;
}

export interface CategoryInfo {
  category: string;
  streams: number;
}

export interface ListStreamsOptions {
  category?: string;
  limit?: number;
  /** Cursor: the streamId to continue after (streams are listed by id). */
  after?: string;
}

/** One stream's share of an `appendMany`. */
export interface StreamAppend {
  streamId: string;
  events: NewEvent[];
  expectedRevision: ExpectedRevision;
}

export interface EventStore {
  append(streamId: string, events: NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult>;
  /**
   * Several streams' appends at once (group commit): each is checked and applied on its own,
   * exactly as `append` would (not all or nothing across streams), and answered in order with
   * its result or its WrongExpectedRevisionError. Any other failure (an invalid event, a
   * storage error) rejects the call; then some appends may have been applied, as after a lost
   * reply, and a retry is recognised as the same append. The embedded store commits them all
   * in one transaction; EventStoreDB sends them in parallel. Optional: `appendMany()` below
   * falls back to parallel appends for a store without it.
   */
  appendMany?(appends: StreamAppend[]): Promise<(AppendResult | WrongExpectedRevisionError)[]>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeOptions): EventSubscription;
  subscribeToStream(streamId: string, options?: StreamSubscribeOptions): EventSubscription;
  /** Revision of the stream's last event, or -1 if it has none. */
  streamRevision(streamId: string): Promise<number>;
  /** Position of the last event in the global log, or null if the log is empty. */
  headPosition(): Promise<LogPosition | null>;
  /**
   * How many events the log holds that pass the filter, for progress and ETAs (a position is
   * no count). Optional: EventStoreDB can only count by reading `$all`, so it leaves it out.
   */
  countEvents?(filter?: LogFilter): Promise<number>;
  listCategories(): Promise<CategoryInfo[]>;
  listStreams(options?: ListStreamsOptions): Promise<{ streams: StreamInfo[]; next?: string }>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends AppError {
  readonly status = 409;
  readonly kind = 'wrong-expected-revision';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual last revision, or -1 if it does not exist. */
    readonly actual: number,
  ) {
    super(`stream ${streamId}: expected revision ${expected}, actual ${actual < 0 ? 'no stream' : actual}`, {
      streamId,
      expected,
      actual,
    });
  }
}

/**
 * A position given to a read is not the position of an event in this log: made up, computed
 * (`p + 1`), malformed, or from another store. A 400, since it comes from the caller.
 */
export class InvalidPositionError extends ValidationError {
  constructor(readonly position: unknown, path: (string | number)[] = ['position']) {
    super(`${JSON.stringify(position)} is not the position of an event in this log`, [
      { path, message: 'not a position this store handed out; pass back a position exactly as the store returned it', code: 'invalid_position' },
    ]);
  }
}

/** Rethrows a store's InvalidPositionError as one about the caller's own parameter. */
export async function positionParam<T>(name: string, read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof InvalidPositionError) throw new InvalidPositionError(error.position, [name]);
    throw error;
  }
}

/** An event failed its schema on append; nothing of the batch was stored. */
export class EventValidationError extends AppError {
  readonly status = 400;
  readonly kind = 'validation';
  constructor(readonly eventType: string, readonly issues: Issue[]) {
    super(`event ${eventType} is invalid: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      eventType,
      issues,
    });
  }
}

/** `store.appendMany`, or for a store without it the same contract as parallel appends. */
export function appendMany(store: EventStore, appends: StreamAppend[]): Promise<(AppendResult | WrongExpectedRevisionError)[]> {
  if (store.appendMany) return store.appendMany(appends);
  return appendEach(store, appends);
}

/** The contract of `appendMany` built from single appends, sent in parallel. */
export function appendEach(store: EventStore, appends: StreamAppend[]): Promise<(AppendResult | WrongExpectedRevisionError)[]> {
  return Promise.all(
    appends.map(({ streamId, events, expectedRevision }) =>
      store.append(streamId, events, { expectedRevision }).catch((error: unknown) => {
        if (error instanceof WrongExpectedRevisionError) return error;
        throw error;
      }),
    ),
  );
}
