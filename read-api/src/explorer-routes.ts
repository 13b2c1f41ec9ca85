import { Router, type RequestHandler } from 'express';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf, idOf } from '@saga/event-schemas/streams';
import type { AuthUser } from '@saga/platform/auth/jwt';
import { NotFoundError, ValidationError } from '@saga/platform/errors';
import { positionParam, type EventStore, type ReadAllOptions, type StreamInfo } from '@saga/platform/event-store/port';
import { requireRole, userOf } from '@saga/platform/http/auth-middleware';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { isAdmin, type VisibleOrder } from './access';
import { LogQuery, ReplayRequest, StreamEventsQuery, StreamIdParams, StreamStateQuery, StreamsQuery } from './params';
import { canFold, foldStream } from './replay/aggregates';
import { LogPage, ReplayResult, StreamEvents, StreamList, StreamState } from './responses';
import { jsonDiff } from './replay/json-diff';
import { republishRange } from './replay/republish';

export interface ExplorerDeps {
  eventStore: EventStore;
  bus: MessageBus;
  visibleOrder: VisibleOrder;
}

/** Streams that belong to one order; a customer may explore those of their own orders. */
const perOrder = new Set(['order', 'payment', 'email', 'saga']);

async function checkStreamAccess(deps: ExplorerDeps, user: AuthUser, streamId: string): Promise<void> {
  if (isAdmin(user)) return;
  if (!perOrder.has(categoryOf(streamId))) throw new NotFoundError(`stream ${streamId} not found`);
  await deps.visibleOrder(user, idOf(streamId)).catch(() => {
    throw new NotFoundError(`stream ${streamId} not found`);
  });
}

/** How many events one filtered page may scan before it answers with what it found. */
const SCAN_LIMIT = 5_000;

/**
 * One page of a stream in either direction, optionally only some event types. Revisions are
 * dense within a stream, so the page's edges are the revisions to continue from.
 */
async function readStreamPage(
  store: EventStore,
  streamId: string,
  opts: { from: number; backwards: boolean; limit: number; types?: ReadonlySet<string> },
): Promise<{ events: RecordedEvent[]; next: number | null; previous: number | null }> {
  const step = opts.backwards ? -1 : 1;
  const found: RecordedEvent[] = [];
  let at = opts.from;
  let scanned = 0;
  let end = false;
  while (found.length < opts.limit && scanned < SCAN_LIMIT) {
    const chunk = await store.readStream(streamId, {
      direction: opts.backwards ? 'backwards' : 'forwards',
      fromRevision: at,
      limit: opts.types ? Math.min(500, SCAN_LIMIT - scanned) : opts.limit - found.length,
    });
    for (const event of chunk) {
      scanned++;
      at = event.revision + step;
      if (!opts.types || opts.types.has(event.type)) found.push(event);
      if (found.length === opts.limit) break;
    }
    if (chunk.length === 0 || at < 0) {
      end = true;
      break;
    }
  }
  const last = await store.streamRevision(streamId);
  const beyond = (r: number) => r < 0 || r > last;
  const previous = opts.from - step;
  return { events: found, next: end || beyond(at) ? null : at, previous: beyond(previous) ? null : previous };
}

/**
 * Stream ids starting with `prefix`, in id order. Ids are letters, digits, `-` and `_`, all
 * below `~`, so starting just after "prefix minus its last letter, then `~`" lands on the
 * first match; the listing stops at the first id past the prefix.
 */
async function streamsWithPrefix(store: EventStore, prefix: string, limit: number, after?: string) {
  const dash = prefix.indexOf('-');
  const category = dash > 0 ? prefix.slice(0, dash) : undefined;
  const start = after && after >= prefix ? after : `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) - 1)}~`;
  const streams: StreamInfo[] = [];
  let cursor: string | undefined = start;
  for (let pages = 0; pages < 20; pages++) {
    const page = await store.listStreams({ ...(category ? { category } : {}), after: cursor, limit: 200 });
    for (const info of page.streams) {
      if (!info.streamId.startsWith(prefix)) return { streams };
      if (streams.length === limit) return { streams, next: streams[streams.length - 1]!.streamId };
      streams.push(info);
    }
    if (!page.next) return { streams };
    cursor = page.next;
  }
  return { streams, ...(streams.length > 0 ? { next: streams[streams.length - 1]!.streamId } : {}) };
}

/** The stream explorer (time travel included) and the admin replay; they read the event store directly. */
export function explorerRoutes(deps: ExplorerDeps, auth: RequestHandler): Router {
  const router = Router();
  const { eventStore } = deps;

  router.get('/api/streams', auth, requireRole('admin'), async (req, res) => {
    const query = parseWith(StreamsQuery, req.query, 'query');
    const limit = query.limit ?? 100;
    const [categories, page] = await Promise.all([
      eventStore.listCategories(),
      query.prefix
        ? streamsWithPrefix(eventStore, query.prefix, limit, query.after)
        : eventStore.listStreams({
            ...(query.category ? { category: query.category } : {}),
            ...(query.after ? { after: query.after } : {}),
            limit,
          }),
    ]);
    res.json({ categories, streams: page.streams, next: page.next ?? null });
  });

  router.get('/api/streams/:streamId/events', auth, async (req, res) => {
    const { streamId } = parseWith(StreamIdParams, req.params, 'path');
    const query = parseWith(StreamEventsQuery, req.query, 'query');
    await checkStreamAccess(deps, userOf(req), streamId);
    const revision = await eventStore.streamRevision(streamId);
    if (revision < 0) throw new NotFoundError(`stream ${streamId} not found`);
    const limit = query.limit ?? 100;
    const backwards = query.direction === 'backwards';
    const page = await readStreamPage(eventStore, streamId, {
      from: query.from ?? (backwards ? revision : 0),
      backwards,
      limit,
      ...(query.type ? { types: new Set(query.type) } : {}),
    });
    // `next` continues in the direction read, `previous` turns back; both are revisions to pass as `from`.
    res.json({ streamId, revision, direction: backwards ? 'backwards' : 'forwards', ...page });
  });

  router.get('/api/streams/:streamId/state', auth, async (req, res) => {
    const { streamId } = parseWith(StreamIdParams, req.params, 'path');
    const query = parseWith(StreamStateQuery, req.query, 'query');
    await checkStreamAccess(deps, userOf(req), streamId);
    if (!canFold(streamId)) throw new NotFoundError(`no aggregate behind stream ${streamId}`);
    const last = await eventStore.streamRevision(streamId);
    if (last < 0) throw new NotFoundError(`stream ${streamId} not found`);
    const revision = query.revision ?? last;
    if (revision > last) {
      throw new ValidationError(`stream ${streamId} has revisions 0 to ${last}`, [{ path: ['revision'], message: `at most ${last}` }]);
    }
    const events: RecordedEvent[] = await eventStore.readStream(streamId, { fromRevision: 0, limit: revision + 1 });
    const before = foldStream(streamId, events.slice(0, -1));
    const state = foldStream(streamId, events);
    const event = events[events.length - 1] ?? null;
    res.json({ streamId, revision, lastRevision: last, state, event, changes: jsonDiff(before, state) });
  });

  router.get('/api/log', auth, requireRole('admin'), async (req, res) => {
    const query = parseWith(LogQuery, req.query, 'query');
    const limit = query.limit ?? 100;
    const filter = query.type ? { filter: { eventTypes: query.type } } : {};
    // One event more than the page says whether there is a next page, and `next` is that
    // event's own position (pass it back as `from`): positions are cursors, never computed.
    const read: ReadAllOptions =
      query.direction === 'backwards'
        ? { direction: 'backwards', ...(query.from ? { fromPosition: query.from } : {}), limit: limit + 1, ...filter }
        : query.after
          ? { after: query.after, limit: limit + 1, ...filter }
          : { ...(query.from ? { fromPosition: query.from } : {}), limit: limit + 1, ...filter };
    const [found, head] = await Promise.all([positionParam(query.after ? 'after' : 'from', eventStore.readAll(read)), eventStore.headPosition()]);
    const events = found.slice(0, limit);
    res.json({ events, head, next: found.length > limit ? found[limit]!.position : null });
  });

  router.post('/api/replay', auth, requireRole('admin'), async (req, res) => {
    const request = parseWith(ReplayRequest, req.body, 'body');
    const result = await republishRange(deps, request);
    res.status(202).json({ ...result, mode: request.mode });
  });

  return router;
}

const streamPath = { path: StreamIdParams };

export const explorerPaths: Paths = {
  '/api/streams': {
    get: {
      operationId: 'listStreams',
      tags: ['explorer'],
      summary: 'Event streams by category (admin)',
      security: bearer,
      requestParams: { query: StreamsQuery },
      responses: { '200': json('Categories and a page of streams', StreamList), ...problems(401, 403) },
    },
  },
  '/api/streams/{streamId}/events': {
    get: {
      operationId: 'getStreamEvents',
      tags: ['explorer'],
      summary: 'A stream’s events from a revision',
      description: 'A customer may read the order, payment, email and saga streams of their own orders.',
      security: bearer,
      requestParams: { ...streamPath, query: StreamEventsQuery },
      responses: { '200': json('A page of the stream', StreamEvents), ...problems(401, 404) },
    },
  },
  '/api/streams/{streamId}/state': {
    get: {
      operationId: 'getStreamState',
      tags: ['explorer'],
      summary: 'Time travel: the aggregate’s state at a revision, and what that event changed',
      security: bearer,
      requestParams: { ...streamPath, query: StreamStateQuery },
      responses: { '200': json('The state at the revision', StreamState), ...problems(401, 404) },
    },
  },
  '/api/log': {
    get: {
      operationId: 'readLog',
      tags: ['explorer'],
      summary: 'The global log from a position (admin)',
      security: bearer,
      requestParams: { query: LogQuery },
      responses: { '200': json('A page of the log', LogPage), ...problems(401, 403) },
    },
  },
  '/api/replay': {
    post: {
      operationId: 'republishRange',
      tags: ['explorer'],
      summary: 'Re-publish a range of the global log to one consumer group (admin)',
      description: 'The events go to the topic `replay.<groupId>`, which only that group reads.',
      security: bearer,
      requestBody: { required: true, content: { 'application/json': { schema: ReplayRequest } } },
      responses: { '202': json('The range is published', ReplayResult), ...problems(401, 403, 413) },
    },
  },
};
