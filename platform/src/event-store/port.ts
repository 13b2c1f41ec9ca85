import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { AppError, type Issue } from '../errors';

/**
 * The event store, with EventStoreDB's semantics. Revisions count from 0 within a stream;
 * positions are the global log's order (strictly increasing, not necessarily dense).
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendResult {
  /** Revision of the last event now in the stream (pass it as the next expected revision). */
  nextExpectedRevision: number;
  /** Global position of the last appended event. */
  position: number;
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

export interface ReadAllOptions {
  direction?: Direction;
  /** Inclusive. Defaults to 'start' forwards and 'end' backwards. */
  fromPosition?: number | 'start' | 'end';
  limit?: number;
  filter?: LogFilter;
}

export interface SubscribeOptions {
  /** Exclusive checkpoint: delivery starts with the first event after it. Default: from the start. */
  after?: number;
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
  lastPosition: number;
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
  /** Position of the last event in the global log, or -1 if the log is empty. */
  headPosition(): Promise<number>;
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
