import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteConnection } from '../sqlite/connection';
import type { EventMetadata, LogPosition, NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf } from '@saga/event-schemas/streams';
import { ConflictError } from '../errors';
import { decodeEvent, encodeBatch, matchesFilter } from './codec';
import { pagedSubscription, Wakeup, type Page, type PagedSubscription } from './paged-subscription';
import {
  InvalidPositionError,
  WrongExpectedRevisionError,
  type AppendResult,
  type CategoryInfo,
  type EventStore,
  type ExpectedRevision,
  type LogFilter,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamInfo,
} from './port';

/**
 * The event log is the only table. `position` is the rowid, so the global order is the insert
 * order, and because SQLite admits one writer at a time a reader never sees a later position
 * before an earlier one. A stream is its rows in the (stream_id, revision) index: its revision
 * is one seek there, read inside the append's write transaction, so the check cannot race, and
 * the unique index refuses a second event at a revision anyway. There is no stream table: it
 * cost an extra b-tree write (and its category index another) on every append, only to serve
 * the explorer's listings, which walk the same index instead. Each append so writes three
 * b-trees: the log, the stream index, and the event-id index that makes a retry recognisable.
 */
export const sqliteSchema = `
CREATE TABLE IF NOT EXISTS events (
  position  INTEGER PRIMARY KEY,
  stream_id TEXT    NOT NULL,
  revision  INTEGER NOT NULL,
  event_id  TEXT    NOT NULL UNIQUE,
  type      TEXT    NOT NULL,
  data      TEXT    NOT NULL,
  metadata  TEXT    NOT NULL,
  UNIQUE (stream_id, revision)
);
`;

/** Files written before the stream table was dropped: it held nothing the log does not. */
const dropLegacyStreams = 'DROP TABLE IF EXISTS streams;';

export interface SqliteEventStoreOptions {
  dataDir: string;
  /** Events a subscription reads at a time (and so holds at most). */
  pageSize?: number;
  /** How often a waiting subscription looks for appends made by another process. */
  pollMs?: number;
}

/**
 * The rowid as a cursor: scaled by 10 and written fixed-width, so positions sort as strings in
 * log order and are never contiguous. A caller that computes a position (`p + 1`, `head - 49`)
 * fails here as it would on EventStoreDB, where positions are byte offsets, not counters.
 */
const SCALE = 10;
const WIDTH = 16;
const positionOf = (rowid: number): LogPosition => String(rowid * SCALE).padStart(WIDTH, '0') as LogPosition;
/** The rowid a cursor stands for, or undefined if no cursor of this store can look like that. */
function rowidOf(position: unknown): number | undefined {
  if (typeof position !== 'string' || position.length !== WIDTH || !/^\d+$/.test(position)) return undefined;
  const n = Number(position);
  return n > 0 && n % SCALE === 0 ? n / SCALE : undefined;
}

type Row = [position: number, streamId: string, revision: number, eventId: string, type: string, data: string, metadata: string];
const COLUMNS = 'position, stream_id, revision, event_id, type, data, metadata';
const MAX = Number.MAX_SAFE_INTEGER;

class RevisionConflict {
  constructor(readonly actual: number) {}
}

/**
 * The rows this connection appended last, contiguous by rowid, so that subscriptions in this
 * process (the relay and the dispatcher, right behind the writers) read them without a query.
 * Only committed rows are added, and a row once committed never changes, so a copy cannot go
 * stale; a gap (another process appended in between) restarts the run. Bounded: the oldest go.
 */
class RecentRows {
  private static readonly keep = 2_048;
  private start = 0;
  private rows: Row[] = [];

  add(rows: readonly Row[]): void {
    for (const row of rows) {
      if (row[0] !== this.start + this.rows.length) {
        this.start = row[0];
        this.rows = [];
      }
      this.rows.push(row);
    }
    // Trimmed in steps, so dropping the oldest costs O(1) per row.
    if (this.rows.length > 2 * RecentRows.keep) {
      const drop = this.rows.length - RecentRows.keep;
      this.rows = this.rows.slice(drop);
      this.start += drop;
    }
  }

  /**
   * Up to `limit` rows after `cursor` and up to `bound` that pass the filter, and the last rowid
   * looked at; undefined when the row after `cursor` is not held.
   */
  after(cursor: number, bound: number, limit: number, filter: LogFilter | undefined): { rows: Row[]; scanned: number } | undefined {
    let i = cursor + 1 - this.start;
    if (i < 0 || i >= this.rows.length) return undefined;
    const rows: Row[] = [];
    let scanned = cursor;
    for (; i < this.rows.length && rows.length < limit; i++) {
      const row = this.rows[i]!;
      if (row[0] > bound) break;
      scanned = row[0];
      if (!filter || matchesFilter(row[4], row[1], filter)) rows.push(row);
    }
    return { rows, scanned };
  }
}

export async function openSqliteEventStore(options: SqliteEventStoreOptions): Promise<EventStore> {
  const pageSize = options.pageSize ?? 256;
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const connection = openSqliteConnection(join(options.dataDir, 'events.sqlite'), { busyTimeoutMs: 5_000 });
  const db = connection.db;
  db.exec(sqliteSchema);
  db.exec(dropLegacyStreams);

  const insertEvent = db.prepare<[string, number, string, string, string, string]>(
    'INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const streamRevision = db.prepare<[string], number | null>('SELECT max(revision) FROM events WHERE stream_id = ?').pluck();
  const headPosition = db.prepare<[], number | null>('SELECT max(position) FROM events').pluck();
  const hasPosition = db.prepare<[number], number | undefined>('SELECT 1 FROM events WHERE position = ?').pluck();
  /** The rowid of a position given to a read: it must be an event's, exactly as handed out. */
  const eventRowid = (position: unknown): number => {
    const rowid = rowidOf(position);
    if (rowid === undefined || hasPosition.get(rowid) === undefined) throw new InvalidPositionError(position);
    return rowid;
  };
  const head = async (): Promise<LogPosition | null> => {
    const rowid = headPosition.get();
    if (rowid === null || rowid === undefined) return null;
    await syncUpTo(rowid);
    return positionOf(rowid);
  };
  const eventsById = db.prepare<[string], { stream_id: string; revision: number; position: number; event_id: string }>(
    'SELECT stream_id, revision, position, event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))',
  );
  const streamForwards = db
    .prepare(`SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?`)
    .raw(true);
  // Without a limit, no `LIMIT ?`: a bound LIMIT makes SQLite prepare the statement again on
  // every run (a read of a short stream tail took ~25 µs with it, ~5 µs without), and a command
  // reads its stream's tail on every run.
  const streamForwardsUnlimited = db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision`).raw(true);
  const streamBackwards = db
    .prepare(`SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`)
    .raw(true);
  // The explorer's listings walk the distinct stream ids of the stream index, one seek each.
  const firstStreamFrom = db.prepare<[string], string | null>('SELECT min(stream_id) FROM events WHERE stream_id >= ?').pluck();
  const nextStreamAfter = db.prepare<[string], string | null>('SELECT min(stream_id) FROM events WHERE stream_id > ?').pluck();
  // Every stream has exactly one event at revision 0, so this counts the streams in a range.
  const streamsInRange = db
    .prepare<[string, string], number>('SELECT count(*) FROM events WHERE stream_id >= ? AND stream_id < ? AND revision = 0')
    .pluck();
  const lastOfStream = db.prepare<[string], { revision: number; position: number; updated_at: string }>(
    `SELECT revision, position, json_extract(metadata, '$.occurredAt') AS updated_at
       FROM events WHERE stream_id = ? ORDER BY revision DESC LIMIT 1`,
  );
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const streamLast = db.prepare<[string], { revision: number; position: number }>(
    'SELECT revision, position FROM events WHERE stream_id = ? ORDER BY revision DESC LIMIT 1',
  );

  /**
   * Power-cut safety: the highest rowid known to be on disk. An append answers only once a sync
   * of the WAL covers it, and no read hands out a later event before one does (a subscription
   * stops at it, a one-shot read syncs first), so nothing is acted on that a power cut could
   * take back: the relay never publishes an event the log could lose. Rowids are commit order,
   * so one synced rowid covers every lower one, another process's too.
   */
  let durable = 0;
  const syncUpTo = async (rowid: number): Promise<void> => {
    if (rowid <= durable) return;
    // The sync covers every commit made before it starts, the head read here included: a
    // catch-up read of a long log then syncs once, not once per page.
    const covered = Math.max(rowid, headPosition.get() ?? 0);
    await connection.sync();
    if (covered > durable) {
      durable = covered;
      wakeup.notify();
    }
  };
  /** Before rows are handed out: any that a sync does not cover yet (another process's, or an append under way) are synced first. */
  const syncRows = async (rows: Row[]): Promise<Row[]> => {
    let max = 0;
    for (const r of rows) if (r[0] > max) max = r[0];
    await syncUpTo(max);
    return rows;
  };
  const streamForwardsDurable = db
    .prepare(`SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? AND position <= ? ORDER BY revision LIMIT ?`)
    .raw(true);

  // One statement per filter shape, built on first use.
  const logReads = new Map<string, Database.Statement>();
  const logRead = (backwards: boolean, filter: LogFilter | undefined) => {
    const types = filter?.eventTypes !== undefined;
    const prefixes = filter?.streamPrefixes !== undefined;
    const key = `${backwards}${types}${prefixes}`;
    let stmt = logReads.get(key);
    if (!stmt) {
      stmt = db
        .prepare(
          `SELECT ${COLUMNS} FROM events WHERE position BETWEEN ? AND ?` +
            (types ? ' AND type IN (SELECT value FROM json_each(?))' : '') +
            (prefixes ? ' AND EXISTS (SELECT 1 FROM json_each(?) p WHERE substr(stream_id, 1, length(p.value)) = p.value)' : '') +
            ` ORDER BY position ${backwards ? 'DESC' : ''} LIMIT ?`,
        )
        .raw(true);
      logReads.set(key, stmt);
    }
    return stmt;
  };
  const logParams = (from: number, to: number, filter: LogFilter | undefined, limit: number) => {
    const params: (number | string)[] = [from, to];
    if (filter?.eventTypes !== undefined) params.push(JSON.stringify(filter.eventTypes));
    if (filter?.streamPrefixes !== undefined) params.push(JSON.stringify(filter.streamPrefixes));
    params.push(limit);
    return params;
  };

  const decodeRows = (rows: Row[]): RecordedEvent[] => {
    const out = new Array<RecordedEvent>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = decodeEvent(r[3], r[4], r[1], r[2], positionOf(r[0]), JSON.parse(r[5]), JSON.parse(r[6]) as EventMetadata);
    }
    return out;
  };

  /** Rows inserted by the transaction under way, kept for `recent` once it has committed. */
  let inserted: Row[] = [];
  const recent = new RecentRows();
  /** After a commit: the rows it wrote become readable without a query. */
  const keepInserted = (): void => {
    if (inserted.length > 0) recent.add(inserted);
    inserted = [];
  };

  /** Checks the expectation, then inserts: run inside a transaction or savepoint. */
  const applyBatch = (
    streamId: string,
    rows: { eventId: string; type: string; data: string; metadata: string }[],
    expected: ExpectedRevision,
  ): AppendResult => {
    const k = rows.length;
    // The write lock is held from here to the commit, so the revision read is the one extended.
    const actual = streamRevision.get(streamId) ?? -1;
    const ok =
      expected === 'any' ||
      (expected === 'stream_exists' ? actual >= 0 : expected === 'no_stream' ? actual < 0 : expected === actual);
    if (!ok) throw new RevisionConflict(actual);
    const first = actual + 1;
    let rowid = 0;
    const written = new Array<Row>(k);
    for (let i = 0; i < k; i++) {
      const r = rows[i]!;
      rowid = Number(insertEvent.run(streamId, first + i, r.eventId, r.type, r.data, r.metadata).lastInsertRowid);
      written[i] = [rowid, streamId, first + i, r.eventId, r.type, r.data, r.metadata];
    }
    // Only a batch written whole is kept (a failed one is undone by its savepoint or statement).
    for (const w of written) inserted.push(w);
    return { nextExpectedRevision: first + k - 1, position: positionOf(rowid) };
  };
  const writeBatch = db.transaction(applyBatch);

  /**
   * After a failed append: is this batch exactly one that is already in the stream, i.e. a
   * retry whose first reply was lost? Returns that append's result, 'partial' if only some of
   * the ids are there, or undefined if none are.
   */
  const priorAppend = (streamId: string, eventIds: string[]): { first: number; result: AppendResult } | 'partial' | undefined => {
    const found = eventsById.all(JSON.stringify(eventIds));
    if (found.length === 0) return undefined;
    if (found.length !== eventIds.length) return 'partial';
    const byId = new Map(found.map((f) => [f.event_id, f]));
    const head = byId.get(eventIds[0]!)!;
    for (let i = 0; i < eventIds.length; i++) {
      const f = byId.get(eventIds[i]!)!;
      if (f.stream_id !== streamId || f.revision !== head.revision + i) return 'partial';
    }
    const last = byId.get(eventIds[eventIds.length - 1]!)!;
    return { first: head.revision, result: { nextExpectedRevision: last.revision, position: positionOf(last.position) } };
  };

  type Prepared = { streamId: string; rows: { eventId: string; type: string; data: string; metadata: string }[]; expected: ExpectedRevision };
  const prepare = (streamId: string, events: NewEvent[], expected: ExpectedRevision): Prepared => {
    const now = new Date().toISOString();
    const encoded = encodeBatch(events, now);
    const rows = new Array<Prepared['rows'][number]>(encoded.length);
    for (let i = 0; i < encoded.length; i++) {
      const e = encoded[i]!;
      rows[i] = { eventId: e.eventId, type: e.type, data: JSON.stringify(e.data), metadata: JSON.stringify(e.metadata) };
    }
    return { streamId, rows, expected };
  };

  /** An append of no events: only the expectation is checked. */
  const noAppend = (streamId: string, expected: ExpectedRevision): AppendResult => {
    const actual = streamRevision.get(streamId) ?? -1;
    const ok = expected === 'any' || (expected === 'stream_exists' ? actual >= 0 : expected === 'no_stream' ? actual < 0 : expected === actual);
    if (!ok) throw new WrongExpectedRevisionError(streamId, expected, actual);
    const rowid = headPosition.get();
    return { nextExpectedRevision: actual, position: rowid === null || rowid === undefined ? null : positionOf(rowid) };
  };
  /** Answers an append once what it reports is on disk (a retry's first attempt may still be syncing). */
  const durableResult = async (result: AppendResult): Promise<AppendResult> => {
    const rowid = result.position === null ? 0 : rowidOf(result.position)!;
    await syncUpTo(rowid);
    return result;
  };

  /** After a write failed: a retry of an append already stored gets its result, else the typed error is thrown. */
  const settleFailed = (err: unknown, streamId: string, rows: Prepared['rows'], expected: ExpectedRevision): AppendResult => {
    const duplicateId = err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_UNIQUE' && err.message.includes('events.event_id');
    if (!(err instanceof RevisionConflict) && !duplicateId) throw err;
    const prior = priorAppend(streamId, rows.map((r) => r.eventId));
    // The same batch with the same expectation: report what the first attempt did.
    if (prior !== undefined && prior !== 'partial') {
      const sameExpectation =
        expected === 'any' || expected === 'stream_exists' || (expected === 'no_stream' ? prior.first === 0 : prior.first === expected + 1);
      if (sameExpectation) return prior.result;
    }
    if (err instanceof RevisionConflict) throw new WrongExpectedRevisionError(streamId, expected, err.actual);
    throw new ConflictError(`stream ${streamId}: some of these event ids were already appended in another batch`, {
      streamId,
      eventIds: rows.map((r) => r.eventId),
    });
  };

  /**
   * Group commit: every append in one transaction, each in its own savepoint (a nested
   * better-sqlite3 transaction), so a conflict undoes that append alone and is answered as a
   * value; any other failure rolls the whole transaction back.
   */
  const writeMany = db.transaction((appends: Prepared[]): (AppendResult | WrongExpectedRevisionError)[] =>
    appends.map(({ streamId, rows, expected }) => {
      try {
        if (rows.length === 0) return noAppend(streamId, expected);
        try {
          // One event needs no savepoint: the check throws before writing, and a failed INSERT
          // undoes itself (SQLite rolls back the statement, not the transaction).
          return rows.length === 1 ? applyBatch(streamId, rows, expected) : writeBatch(streamId, rows, expected);
        } catch (err) {
          return settleFailed(err, streamId, rows, expected);
        }
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError) return err;
        throw err;
      }
    }),
  );

  // data_version changes only when another connection (another process) commits to the file.
  // Another process's appends are handed out once a sync covers them: the poll syncs, and the
  // sync's wake-up (in syncUpTo) wakes the subscriptions.
  let lastDataVersion = dataVersion.get() as number;
  const wakeup = new Wakeup(() => {
    const v = dataVersion.get() as number;
    if (v === lastDataVersion) return false;
    lastDataVersion = v;
    const rowid = headPosition.get() ?? 0;
    if (rowid <= durable) return true;
    syncUpTo(rowid).catch((error: unknown) => console.error('event store: sync of the WAL failed', String(error)));
    return false;
  }, options.pollMs ?? 15);
  // What an earlier run (or another process) committed is on disk before anything is read.
  {
    const rowid = headPosition.get() ?? 0;
    await connection.sync();
    durable = rowid;
  }
  const subscriptions = new Set<PagedSubscription>();
  let closed = false;

  const track = (make: (onClose: () => void) => PagedSubscription): PagedSubscription => {
    if (closed) throw new Error('event store is closed');
    const sub = make(() => subscriptions.delete(sub));
    subscriptions.add(sub);
    return sub;
  };

  return {
    async append(streamId, events: NewEvent[], opts) {
      const { rows, expected } = prepare(streamId, events, opts?.expectedRevision ?? 'any');
      if (rows.length === 0) return durableResult(noAppend(streamId, expected));
      let result: AppendResult;
      inserted = [];
      try {
        result = writeBatch.immediate(streamId, rows, expected);
        keepInserted();
      } catch (err) {
        inserted = [];
        result = settleFailed(err, streamId, rows, expected);
      }
      return durableResult(result);
    },

    async appendMany(appends) {
      const prepared = appends.map((a) => prepare(a.streamId, a.events, a.expectedRevision));
      if (prepared.length === 0) return [];
      inserted = [];
      let results: (AppendResult | WrongExpectedRevisionError)[];
      try {
        results = writeMany.immediate(prepared);
      } catch (err) {
        // Rolled back as a whole: nothing it inserted is kept.
        inserted = [];
        throw err;
      }
      keepInserted();
      let rowid = 0;
      for (const r of results) if (!(r instanceof WrongExpectedRevisionError) && r.position !== null) rowid = Math.max(rowid, rowidOf(r.position)!);
      await syncUpTo(rowid);
      return results;
    },

    async readStream(streamId, opts: ReadStreamOptions = {}) {
      const limit = opts.limit ?? -1;
      const from = opts.fromRevision;
      if (opts.direction === 'backwards') {
        const start = from === undefined || from === 'end' ? MAX : from === 'start' ? 0 : from;
        return decodeRows(await syncRows(streamBackwards.all(streamId, start, limit) as Row[]));
      }
      if (from === 'end') return [];
      const start = from === undefined || from === 'start' ? 0 : from;
      const rows = (limit < 0 ? streamForwardsUnlimited.all(streamId, start) : streamForwards.all(streamId, start, limit)) as Row[];
      return decodeRows(await syncRows(rows));
    },

    async readAll(opts: ReadAllOptions = {}) {
      const limit = opts.limit ?? -1;
      const from = opts.fromPosition;
      if (opts.direction === 'backwards') {
        const start = from === undefined || from === 'end' ? MAX : eventRowid(from);
        return decodeRows(await syncRows(logRead(true, opts.filter).all(...logParams(0, start, opts.filter, limit)) as Row[]));
      }
      // Rowids are the adapter's own to count with; the cursors it hands out are not.
      let start = 0;
      if (opts.after !== undefined) start = eventRowid(opts.after) + 1;
      else if (from === 'end') return [];
      else if (from !== undefined && from !== 'start') start = eventRowid(from);
      return decodeRows(await syncRows(logRead(false, opts.filter).all(...logParams(start, MAX, opts.filter, limit)) as Row[]));
    },

    subscribeToAll(opts = {}) {
      const filter = opts.filter;
      const read = logRead(false, filter);
      // A subscription reads only what is on disk; a sync's wake-up brings it the rest.
      const readPage = (cursor: number): Page => {
        // Everything on disk was handed out: a wake-up that brought nothing new costs no query.
        if (cursor >= durable) return { events: [], cursor, atHead: true };
        const bound = durable;
        const held = recent.after(cursor, bound, pageSize, filter);
        if (held) {
          const events = decodeRows(held.rows);
          const full = events.length === pageSize;
          return { events, cursor: full ? held.rows[held.rows.length - 1]![0] : held.scanned, atHead: !full && held.scanned === bound };
        }
        if (!filter) {
          const events = decodeRows(read.all(...logParams(cursor + 1, durable, undefined, pageSize)) as Row[]);
          return { events, cursor: events.length > 0 ? rowidOf(events[events.length - 1]!.position)! : cursor, atHead: events.length < pageSize };
        }
        // Bound the filtered scan by the head, so that once it is scanned the cursor can move
        // past events the filter skipped instead of scanning them again on every wake-up.
        const head = durable;
        const events = decodeRows(read.all(...logParams(cursor + 1, head, filter, pageSize)) as Row[]);
        const full = events.length === pageSize;
        return { events, cursor: full ? rowidOf(events[events.length - 1]!.position)! : Math.max(cursor, head), atHead: !full };
      };
      const after = opts.after === undefined ? 0 : eventRowid(opts.after);
      return track((onClose) => pagedSubscription(readPage, after, wakeup, opts.onCaughtUp, onClose));
    },

    subscribeToStream(streamId, opts = {}) {
      const readPage = (cursor: number): Page => {
        const events = decodeRows(streamForwardsDurable.all(streamId, cursor + 1, durable, pageSize) as Row[]);
        return { events, cursor: events.length > 0 ? events[events.length - 1]!.revision : cursor, atHead: events.length < pageSize };
      };
      return track((onClose) => pagedSubscription(readPage, opts.after ?? -1, wakeup, opts.onCaughtUp, onClose));
    },

    async streamRevision(streamId) {
      const last = streamLast.get(streamId);
      if (last === undefined) return -1;
      await syncUpTo(last.position);
      return last.revision;
    },

    async headPosition() {
      return head();
    },

    async countEvents(filter) {
      const types = filter?.eventTypes !== undefined;
      const prefixes = filter?.streamPrefixes !== undefined;
      const params: string[] = [];
      if (types) params.push(JSON.stringify(filter.eventTypes));
      if (prefixes) params.push(JSON.stringify(filter.streamPrefixes));
      const sql =
        'SELECT count(*) FROM events WHERE 1' +
        (types ? ' AND type IN (SELECT value FROM json_each(?))' : '') +
        (prefixes ? ' AND EXISTS (SELECT 1 FROM json_each(?) p WHERE substr(stream_id, 1, length(p.value)) = p.value)' : '');
      return db.prepare<string[], number>(sql).pluck().get(...params)!;
    },

    async listCategories(): Promise<CategoryInfo[]> {
      // A category's streams are `<category>` itself and the ids in [`<category>-`, `<category>.`)
      // ('.' follows '-'), so each category costs a seek and a count, not a visit per stream.
      const counts = new Map<string, number>();
      let id = firstStreamFrom.get('');
      while (id !== null && id !== undefined) {
        const dash = id.indexOf('-');
        if (dash < 0) {
          counts.set(id, (counts.get(id) ?? 0) + 1);
          id = nextStreamAfter.get(id);
          continue;
        }
        const category = id.slice(0, dash);
        counts.set(category, (counts.get(category) ?? 0) + streamsInRange.get(`${category}-`, `${category}.`)!);
        id = firstStreamFrom.get(`${category}.`);
      }
      return [...counts.keys()].sort().map((category) => ({ category, streams: counts.get(category)! }));
    },

    async listStreams(opts = {}) {
      const limit = opts.limit ?? 100;
      const category = opts.category;
      const after = opts.after ?? '';
      const streams: StreamInfo[] = [];
      let more = false;
      const take = (streamId: string): boolean => {
        if (streams.length === limit) {
          more = true;
          return false;
        }
        const last = lastOfStream.get(streamId)!;
        streams.push({ streamId, category: categoryOf(streamId), revision: last.revision, lastPosition: positionOf(last.position), updatedAt: last.updated_at });
        return true;
      };
      if (category === undefined) {
        for (let id = nextStreamAfter.get(after); id !== null && id !== undefined && take(id); id = nextStreamAfter.get(id));
      } else {
        // The stream named just `<category>`, then the range of `<category>-...` ids.
        if (after < category && firstStreamFrom.get(category) === category) take(category);
        const low = `${category}-`;
        const high = `${category}.`;
        let id = after < low ? firstStreamFrom.get(low) : nextStreamAfter.get(after);
        for (; id !== null && id !== undefined && id < high && take(id); id = nextStreamAfter.get(id));
      }
      return more ? { streams, next: streams[streams.length - 1]!.streamId } : { streams };
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...subscriptions].map((s) => s.close()));
      wakeup.stop();
      await connection.close();
    },
  };
}
