import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  ANY,
  AccessDeniedError,
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamRecordedEvent,
  type AppendExpectedRevision,
  type Filter,
  type JSONType,
  type Position,
  type ReadableSubscription,
  type CatchupSubscription,
  type ResolvedEvent,
  type AllStreamResolvedEvent,
  type RecordedEvent as EsdbRecordedEvent,
  type StreamingRead,
} from '@eventstore/db-client';
import type { EventMetadata, LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf } from '@saga/event-schemas/streams';
import { decodeEvent, encodeBatch, matchesFilter } from './codec';
import {
  appendEach,
  InvalidPositionError,
  WrongExpectedRevisionError,
  type CategoryInfo,
  type EventStore,
  type EventSubscription,
  type ExpectedRevision,
  type LogFilter,
  type StreamInfo,
} from './port';

export interface EsdbEventStoreOptions {
  /** e.g. `esdb://localhost:2113?tls=false` */
  url: string;
  /** Events a subscription lets the client buffer before gRPC flow control holds the server back. */
  pageSize?: number;
}

/**
 * EventStoreDB's positions are commit/prepare pairs of byte offsets (u64). Both are carried, as
 * 16 hex digits each, so the cursor is exact beyond 2^53 and for events of legacy TCP
 * transactions (whose prepare differs from their commit), and sorts as a string in log order.
 */
const positionOf = (p: Position): LogPosition =>
  `${p.commit.toString(16).padStart(16, '0')}-${p.prepare.toString(16).padStart(16, '0')}` as LogPosition;
/** The server position a cursor stands for, or undefined if it is not one this adapter writes. */
function serverPositionOf(position: unknown): Position | undefined {
  const m = typeof position === 'string' ? /^([0-9a-f]{16})-([0-9a-f]{16})$/.exec(position) : null;
  return m ? { commit: BigInt(`0x${m[1]}`), prepare: BigInt(`0x${m[2]}`) } : undefined;
}

/** Errors that say the server or the link is unwell, not that the position asked for is wrong. */
const isOutage = (err: unknown) =>
  err instanceof UnavailableError ||
  err instanceof DeadlineExceededError ||
  err instanceof TimeoutError ||
  err instanceof CancelledError ||
  err instanceof NotLeaderError ||
  err instanceof AccessDeniedError;

/** The server filters on one thing (stream name or event type); the other, if both are given, and system events are filtered here. */
function serverFilterOf(filter: LogFilter | undefined): Filter {
  if (filter?.streamPrefixes) return streamNameFilter({ prefixes: filter.streamPrefixes });
  if (filter?.eventTypes)
    return eventTypeFilter({ regex: `^(${filter.eventTypes.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$` });
  return excludeSystemEvents();
}

const toExpected = (e: ExpectedRevision): AppendExpectedRevision =>
  e === 'any' ? ANY : e === 'no_stream' || e === -1 ? NO_STREAM : e === 'stream_exists' ? STREAM_EXISTS : BigInt(e);

const isSystem = (e: { type: string; streamId: string }) => e.type.startsWith('$') || e.streamId.startsWith('$');

/** A link event's data is `<revision>@<streamId>`. */
function linkTarget(data: unknown): string | undefined {
  const text = data instanceof Uint8Array ? Buffer.from(data).toString('utf8') : typeof data === 'string' ? data : undefined;
  const at = text?.indexOf('@') ?? -1;
  return at < 0 ? undefined : text!.slice(at + 1);
}

function toRecorded(e: EsdbRecordedEvent | AllStreamRecordedEvent): RecordedEvent {
  // Stream reads carry positions from server 22.6 on (see the README's minimum version).
  if (!e.position) throw new Error(`EventStoreDB returned ${e.streamId}@${e.revision} without a log position: the server is older than 22.6`);
  return decodeEvent(e.id, e.type, e.streamId, Number(e.revision), positionOf(e.position), e.data, e.metadata as EventMetadata);
}

async function* events<E extends ResolvedEvent | AllStreamResolvedEvent>(read: StreamingRead<E>): AsyncGenerator<E> {
  try {
    for await (const resolved of read) yield resolved;
  } catch (err) {
    if (err instanceof StreamNotFoundError) return;
    throw err;
  } finally {
    await read.cancel().catch(() => undefined);
  }
}

export async function openEsdbEventStore(options: EsdbEventStoreOptions): Promise<EventStore> {
  const client = EventStoreDBClient.connectionString(options.url);
  const pageSize = options.pageSize ?? 256;
  const subscriptions = new Set<EventSubscription>();
  let storeClosed = false;

  async function lastOf(streamId: string): Promise<RecordedEvent | undefined> {
    for await (const { event } of events(client.readStream(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }))) {
      if (event) return toRecorded(event);
    }
    return undefined;
  }

  async function eventAt(streamId: string, revision: number): Promise<RecordedEvent | undefined> {
    for await (const { event } of events(client.readStream(streamId, { fromRevision: BigInt(revision), maxCount: 1 }))) {
      if (event) return toRecorded(event);
    }
    return undefined;
  }

  /** Unfiltered reads of `$all`, and backward filtered ones (the 6.x client's readAll takes no filter, so those filter here). */
  async function readLog(
    direction: 'forwards' | 'backwards',
    from: Position | typeof START | typeof END,
    filter: LogFilter | undefined,
    limit: number,
    accept: (e: RecordedEvent) => boolean = () => true,
  ): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    if (limit <= 0) return out;
    const read = client.readAll({ direction: direction === 'backwards' ? BACKWARDS : FORWARDS, fromPosition: from });
    for await (const { event } of events(read)) {
      if (!event || isSystem(event) || !matchesFilter(event.type, event.streamId, filter)) continue;
      const recorded = toRecorded(event);
      if (!accept(recorded)) continue;
      out.push(recorded);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * A forward read filtered by the server: a catch-up subscription with the filter, ended when
   * it has `limit` events or reports it has caught up (server 23.10+), so the server skips
   * what the filter leaves out instead of sending all of `$all` (E2). Starts after `from`.
   */
  async function readFiltered(
    from: Position | typeof START,
    filter: LogFilter,
    limit: number,
    accept: (e: RecordedEvent) => boolean = () => true,
  ): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    if (limit <= 0) return out;
    const sub = client.subscribeToAll({ fromPosition: from, filter: serverFilterOf(filter) }, { highWaterMark: Math.min(limit, pageSize) });
    const source = sub[Symbol.asyncIterator]();
    // `caughtUp` passes through the client ahead of events it still buffers: those, counted
    // when it arrives, belong to the read; whatever follows them is live and does not.
    let pulled = 0;
    let caughtUpAt: number | undefined;
    let signal!: () => void;
    const caughtUp = new Promise<'caught-up'>((resolve) => (signal = () => resolve('caught-up')));
    sub.once('caughtUp', () => {
      caughtUpAt = pulled + sub.readableLength;
      signal();
    });
    try {
      let pending: Promise<IteratorResult<AllStreamResolvedEvent>> | undefined;
      while (out.length < limit && (caughtUpAt === undefined || pulled < caughtUpAt)) {
        pending ??= source.next();
        const r = caughtUpAt === undefined ? await Promise.race([pending, caughtUp]) : await pending;
        if (r === 'caught-up') continue;
        pending = undefined;
        if (r.done) break;
        pulled++;
        const event = r.value.event;
        if (!event || isSystem(event) || !matchesFilter(event.type, event.streamId, filter)) continue;
        const recorded = toRecorded(event);
        if (accept(recorded)) out.push(recorded);
      }
    } finally {
      await sub.unsubscribe().catch(() => undefined);
      sub.destroy();
    }
    return out;
  }

  /**
   * The event at a position given to a read, system events included: it must be exactly an
   * event's position. The server itself refuses a position inside a record (InvalidPosition);
   * checking here also refuses one it might read from, such as a made-up record boundary.
   */
  async function eventAtPosition(position: unknown): Promise<{ at: Position; event: AllStreamRecordedEvent }> {
    const at = serverPositionOf(position);
    if (!at) throw new InvalidPositionError(position);
    try {
      for await (const { event } of events(client.readAll({ direction: FORWARDS, fromPosition: at, maxCount: 1 }))) {
        if (event && positionOf(event.position) === position) return { at, event };
      }
    } catch (err) {
      if (isOutage(err)) throw err;
      throw new InvalidPositionError(position);
    }
    throw new InvalidPositionError(position);
  }

  /** Stream ids a system projection links to (`$streams`, `$category-<c>`), system streams left out. */
  async function linkedStreams(stream: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const { event, link } of events(client.readStream(stream, { resolveLinkTos: false }))) {
      const target = linkTarget((link ?? event)?.data);
      if (target && !target.startsWith('$')) ids.push(target);
    }
    return [...new Set(ids)];
  }

  /**
   * Wraps a catch-up subscription. The client's readable is piped from the gRPC stream, so
   * with a high-water mark of one page it stops reading and HTTP/2 flow control holds the
   * server back: a slow consumer never makes us buffer more than about a page.
   */
  function wrap<E extends ResolvedEvent | AllStreamResolvedEvent>(
    sub: ReadableSubscription<E> & CatchupSubscription,
    accept: (e: RecordedEvent) => boolean,
    onCaughtUp: (() => void) | undefined,
  ): EventSubscription {
    const source = sub[Symbol.asyncIterator]();
    let pulled = 0;
    let caughtUpAt: number | undefined;
    let signalled = false;
    let closed = false;
    let release!: () => void;
    const closedSignal = new Promise<IteratorResult<E>>((resolve) => (release = () => resolve({ done: true, value: undefined })));

    // `caughtUp` is emitted when the server's message passes through the client, possibly
    // ahead of events still buffered; signal it once the consumer has pulled those too.
    const maybeSignal = () => {
      if (!signalled && caughtUpAt !== undefined && pulled >= caughtUpAt) {
        signalled = true;
        onCaughtUp?.();
      }
    };
    sub.once('caughtUp', () => {
      caughtUpAt = pulled + sub.readableLength;
      maybeSignal();
    });

    const close = async () => {
      if (closed) return;
      closed = true;
      subscriptions.delete(subscription);
      release();
      await sub.unsubscribe().catch(() => undefined);
      sub.destroy();
    };

    const iterator: AsyncIterableIterator<RecordedEvent> = {
      async next() {
        for (;;) {
          if (closed) return { done: true, value: undefined };
          const r = await Promise.race([source.next(), closedSignal]);
          if (r.done || closed) return { done: true, value: undefined };
          pulled++;
          maybeSignal();
          const event = r.value.event;
          if (!event || isSystem(event)) continue;
          const recorded = toRecorded(event);
          if (accept(recorded)) return { done: false, value: recorded };
        }
      },
      async return() {
        await close();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    const subscription: EventSubscription = {
      [Symbol.asyncIterator]: () => iterator,
      close,
      get buffered() {
        // The client's subscription is a Transform; count what waits on both of its sides.
        const writable = (sub as unknown as { writableLength?: number }).writableLength ?? 0;
        return sub.readableLength + writable;
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  return {
    async append(streamId, batch, opts) {
      const expected = opts?.expectedRevision ?? 'any';
      const encoded = encodeBatch(batch, new Date().toISOString());
      try {
        const result = await client.appendToStream(
          streamId,
          encoded.map((e) =>
            jsonEvent({ id: e.eventId, type: e.type, data: e.data as JSONType, metadata: e.metadata as unknown as JSONType }),
          ),
          { expectedRevision: toExpected(expected) },
        );
        const nextExpectedRevision = Number(result.nextExpectedRevision);
        // A retried (idempotent) append may come back without a position: look it up.
        const position = result.position ? positionOf(result.position) : ((await eventAt(streamId, nextExpectedRevision))?.position ?? null);
        return { nextExpectedRevision, position };
      } catch (err) {
        if (err instanceof WrongExpectedVersionError) {
          const actual = err.actualVersion === NO_STREAM ? -1 : Number(err.actualVersion);
          throw new WrongExpectedRevisionError(streamId, expected, actual);
        }
        throw err;
      }
    },

    /** No multi-stream transaction in EventStoreDB: the appends go out in parallel, each on its own. */
    appendMany(this: EventStore, appends) {
      return appendEach(this, appends);
    },

    async readStream(streamId, opts = {}) {
      const backwards = opts.direction === 'backwards';
      const from = opts.fromRevision ?? (backwards ? 'end' : 'start');
      if (opts.limit !== undefined && opts.limit <= 0) return [];
      const read = client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: from === 'start' ? START : from === 'end' ? END : BigInt(from),
        ...(opts.limit !== undefined ? { maxCount: opts.limit } : {}),
      });
      const out: RecordedEvent[] = [];
      for await (const { event } of events(read)) if (event) out.push(toRecorded(event));
      return out;
    },

    async readAll(opts = {}) {
      const limit = opts.limit ?? Number.MAX_SAFE_INTEGER;
      const filter = opts.filter;
      const from = opts.fromPosition;
      if (limit <= 0) return [];
      if (opts.direction === 'backwards') {
        if (from === undefined || from === 'end') return readLog('backwards', END, filter, limit);
        // Inclusive in both directions, but a backward read from a position excludes the event
        // there: take that one from the check, the rest from a backward read below it.
        const { at, event } = await eventAtPosition(from);
        const atFrom = !isSystem(event) && matchesFilter(event.type, event.streamId, filter) ? toRecorded(event) : undefined;
        const below = await readLog('backwards', at, filter, atFrom ? limit - 1 : limit, (e) => e.position < from);
        return atFrom ? [atFrom, ...below] : below;
      }
      if (from === 'end') return [];
      let start: Position | typeof START = START;
      let first: RecordedEvent[] = [];
      let after: LogPosition | undefined;
      if (opts.after !== undefined) {
        start = (await eventAtPosition(opts.after)).at;
        after = opts.after;
      } else if (from !== undefined && from !== 'start') {
        const { at, event } = await eventAtPosition(from);
        start = at;
        after = from;
        if (!isSystem(event) && matchesFilter(event.type, event.streamId, filter)) first = [toRecorded(event)];
      }
      if (first.length >= limit) return first.slice(0, limit);
      const rest = limit - first.length;
      // Strings in log order: `> after` drops the event a forward read starts with.
      const later = (e: RecordedEvent) => after === undefined || e.position > after;
      const read = filter ? await readFiltered(start, filter, rest, later) : await readLog('forwards', start, undefined, rest, later);
      return [...first, ...read];
    },

    subscribeToAll(opts = {}) {
      const filter = opts.filter;
      const after = opts.after;
      let from: Position | typeof START = START;
      if (after !== undefined) {
        const at = serverPositionOf(after);
        if (!at) throw new InvalidPositionError(after);
        from = at;
      }
      const sub = client.subscribeToAll({ fromPosition: from, filter: serverFilterOf(filter) }, { highWaterMark: pageSize });
      return wrap(sub, (e) => matchesFilter(e.type, e.streamId, filter) && (after === undefined || e.position > after), opts.onCaughtUp);
    },

    subscribeToStream(streamId, opts = {}) {
      const after = opts.after;
      const sub = client.subscribeToStream(
        streamId,
        { fromRevision: after === undefined || after < 0 ? START : BigInt(after) },
        { highWaterMark: pageSize },
      );
      return wrap(sub, (e) => after === undefined || e.revision > after, opts.onCaughtUp);
    },

    async streamRevision(streamId) {
      return (await lastOf(streamId))?.revision ?? -1;
    },

    async headPosition() {
      const [last] = await readLog('backwards', END, undefined, 1);
      return last?.position ?? null;
    },

    // Listing relies on the standard system projections ($streams, $stream_by_category), which
    // the server runs with RUN_PROJECTIONS=All and START_STANDARD_PROJECTIONS=true. They are
    // eventually consistent: a stream appears shortly after its first event.
    async listCategories(): Promise<CategoryInfo[]> {
      const counts = new Map<string, number>();
      for (const id of await linkedStreams('$streams')) counts.set(categoryOf(id), (counts.get(categoryOf(id)) ?? 0) + 1);
      return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([category, streams]) => ({ category, streams }));
    },

    async listStreams(opts = {}) {
      const limit = opts.limit ?? 100;
      const ids = (await linkedStreams(opts.category ? `$category-${opts.category}` : '$streams'))
        .filter((id) => opts.after === undefined || id > opts.after)
        .sort();
      const page = ids.slice(0, limit);
      const streams: StreamInfo[] = [];
      for (const streamId of page) {
        const read = client.readStream(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: 1 });
        for await (const { event } of events(read)) {
          if (!event) continue;
          streams.push({
            streamId,
            category: categoryOf(streamId),
            revision: Number(event.revision),
            lastPosition: toRecorded(event).position,
            updatedAt: event.created.toISOString(),
          });
        }
      }
      return ids.length > limit ? { streams, next: page[page.length - 1]! } : { streams };
    },

    async close() {
      if (storeClosed) return;
      storeClosed = true;
      await Promise.all([...subscriptions].map((s) => s.close()));
      await client.dispose();
    },
  };
}
