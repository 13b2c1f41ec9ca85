import { randomBytes } from 'node:crypto';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf } from '@saga/event-schemas/streams';
import type { AuthUser } from '@saga/platform/auth/jwt';
import { positionParam, type EventStore } from '@saga/platform/event-store/port';
import { UnauthorizedError, ValidationError } from '@saga/platform/errors';
import { userOf } from '@saga/platform/http/auth-middleware';
import { json, problems, type Paths } from '@saga/platform/http/openapi';
import { TooManyRequestsError } from '@saga/platform/http/problem';
import { parseWith } from '@saga/platform/http/validate';
import type { OrderQueries } from '@saga/projections/projectors/orders';
import { productsProjection } from '@saga/projections/projectors/products';
import type { SagaQueries } from '@saga/projections/projectors/sagas';
import type { ProjectionChange } from '@saga/projections/projectors/runner';
import type { RebuildProgress } from '@saga/projections/rebuild/rebuild';
import { isAdmin } from './access';
import { catchUp } from './catch-up';
import { LiveQuery } from './params';

/**
 * `GET /api/live`: server-sent events. The stream follows the event store's global log, so
 * the SSE id of every message is the global position of the event behind it, and a client
 * that reconnects with `Last-Event-ID` resumes exactly after the last event it saw.
 *
 * For each event the client may see it gets:
 * - `log`     (admin): the event's place in the log and its type;
 * - `order`:  the order read model once it reflects that event (its own orders only);
 * - `saga`:   likewise the saga read model, for saga events;
 * - `stock`:  the skus whose stock moved (public, as the catalog is);
 * and, without an id (they are not log events): `projection` (admin), rebuild progress and
 * projector positions; `expired` just before the server ends the stream at the token's expiry;
 * `reset` (with the head's id) when a resume point is too far back to replay.
 *
 * Credentials: `POST /api/live/ticket` (Bearer token) answers a one-use ticket valid 30 s,
 * opened as `GET /api/live?ticket=`, so the long-lived token never sits in a URL. The
 * Authorization header and `?access_token=` still work. Either way the stream ends when the
 * token behind it expires.
 */
export interface LiveDeps {
  eventStore: EventStore;
  orders: OrderQueries;
  sagas: SagaQueries;
  /** Change notifications from in-process projectors (wake waiting streams at once), and rebuild progress. */
  onProjectionChange?: (listener: (change: ProjectionChange) => void) => () => void;
  onRebuildProgress?: (listener: (progress: RebuildProgress) => void) => () => void;
  /** How long to wait for a read model to reflect an event before sending what it has. Default 2000 ms. */
  projectionWaitMs?: number;
  heartbeatMs?: number;
  /** Streams one user may have open at once (default 5), and all users together (default 200); past that, 429. */
  maxStreamsPerUser?: number;
  maxStreams?: number;
  /** Most log events a resume (Last-Event-ID, lastEventId) replays; past that the stream skips to the head. Default 1000. */
  maxReplayEvents?: number;
  /** How long a stream ticket can be redeemed. Default 30 s. */
  ticketTtlMs?: number;
}

interface Ticket {
  user: AuthUser;
  /** The token's expiry: the stream opened with the ticket ends then too. */
  authExpiresAt: number | undefined;
  validUntil: number;
}

/** Unredeemed tickets one process keeps at most; a flood of ticket requests gets 429s, not memory. */
const MAX_OPEN_TICKETS = 10_000;
/** setTimeout's ceiling (~24.8 days); a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One-use stream tickets, kept in this process: the gateway that issued one is the one the
 * browser opens the stream on (same origin). A ticket is a 256-bit random string.
 */
function ticketBook(ttlMs: number) {
  const tickets = new Map<string, Ticket>();
  const sweep = (now: number) => {
    for (const [id, t] of tickets) if (t.validUntil <= now) tickets.delete(id);
  };
  return {
    issue(user: AuthUser, authExpiresAt: number | undefined): { ticket: string; expiresAt: number } {
      const now = Date.now();
      if (tickets.size >= MAX_OPEN_TICKETS) sweep(now);
      if (tickets.size >= MAX_OPEN_TICKETS) throw new TooManyRequestsError('too many live stream tickets outstanding; try again later');
      const ticket = randomBytes(32).toString('base64url');
      const validUntil = Math.min(now + ttlMs, authExpiresAt ?? Number.POSITIVE_INFINITY);
      tickets.set(ticket, { user, authExpiresAt, validUntil });
      return { ticket, expiresAt: validUntil };
    },
    /** The ticket's holder, once: a second redemption, or one after its time, is refused. */
    redeem(ticket: string): Ticket {
      const found = tickets.get(ticket);
      tickets.delete(ticket);
      if (!found || found.validUntil <= Date.now()) throw new UnauthorizedError('live stream ticket invalid, used or expired');
      return found;
    },
  };
}

const TICKET = /^[A-Za-z0-9_-]{43}$/;

const orderIdOf = (event: RecordedEvent): string | null =>
  'orderId' in event.data && typeof event.data.orderId === 'string' ? event.data.orderId : null;

const LAST_EVENT_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function liveRoute(deps: LiveDeps, auth: RequestHandler): Router {
  const router = Router();
  const waitMs = deps.projectionWaitMs ?? 2000;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;

  // Streams waiting for a projector to apply an event are woken by its change notifications.
  const waitFor = catchUp(deps.onProjectionChange);
  const eventually = <T>(read: () => Promise<T | null>) => waitFor(read, waitMs);

  const maxPerUser = deps.maxStreamsPerUser ?? 5;
  const maxStreams = deps.maxStreams ?? 200;
  const maxReplay = deps.maxReplayEvents ?? 1000;
  const tickets = ticketBook(deps.ticketTtlMs ?? 30_000);
  const openByUser = new Map<string, number>();
  let openStreams = 0;

  router.post('/api/live/ticket', auth, (req, res) => {
    const { ticket, expiresAt } = tickets.issue(userOf(req), req.authExpiresAt);
    res.status(201).json({ ticket, expiresAt: new Date(expiresAt).toISOString() });
  });

  /** A ticket when the query has one, else the token (header or access_token) through `auth`. */
  const authenticateStream: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const ticket = req.query.ticket;
    if (ticket === undefined) {
      auth(req, res, next);
      return;
    }
    if (typeof ticket !== 'string' || !TICKET.test(ticket)) throw new UnauthorizedError('live stream ticket invalid, used or expired');
    const found = tickets.redeem(ticket);
    req.user = found.user;
    if (found.authExpiresAt !== undefined) req.authExpiresAt = found.authExpiresAt;
    next();
  };

  router.get('/api/live', authenticateStream, async (req, res) => {
    const user = userOf(req);
    const query = parseWith(LiveQuery, req.query, 'query');
    const header = req.headers['last-event-id'];
    if (header !== undefined && (typeof header !== 'string' || !LAST_EVENT_ID.test(header))) {
      throw new ValidationError('Last-Event-ID must be a global log position', [{ path: ['Last-Event-ID'], message: 'not a log position' }]);
    }
    // A resume point is an SSE id this stream sent, i.e. a position the store handed out: the
    // store checks it is an event's before the stream starts, so a made-up one is a 400.
    const given = header !== undefined ? { name: 'Last-Event-ID', position: header as LogPosition } : query.lastEventId !== undefined ? { name: 'lastEventId', position: query.lastEventId } : undefined;
    if (given) await positionParam(given.name, deps.eventStore.readAll({ fromPosition: given.position, limit: 1 }));
    // Counted before any further await, so a burst of opens cannot all pass the check at once.
    if ((openByUser.get(user.id) ?? 0) >= maxPerUser) throw new TooManyRequestsError(`at most ${maxPerUser} live streams per user; close one first`);
    if (openStreams >= maxStreams) throw new TooManyRequestsError('the server has as many live streams open as it serves; try again later');
    openByUser.set(user.id, (openByUser.get(user.id) ?? 0) + 1);
    openStreams++;
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      openStreams--;
      const left = (openByUser.get(user.id) ?? 1) - 1;
      if (left > 0) openByUser.set(user.id, left);
      else openByUser.delete(user.id);
    };
    res.on('close', uncount);
    let headAtOpen: LogPosition | null;
    try {
      headAtOpen = await deps.eventStore.headPosition();
    } catch (err) {
      uncount();
      throw err;
    }
    const resumeAfter = given?.position ?? headAtOpen;

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    const stream = sseWriter(res);
    stream.raw(`retry: 2000\n\n`);
    stream.send('ready', { after: resumeAfter }, undefined);

    const owners = new Map<string, string | null>();
    const ownerOf = async (orderId: string, event: RecordedEvent): Promise<string | null> => {
      if (event.type === 'OrderPlaced') owners.set(orderId, event.data.customerId);
      if (!owners.has(orderId)) {
        const order = await eventually(async () => (await deps.orders.get(orderId))?.customerId ?? null);
        if (order !== null) owners.set(orderId, order);
        else return null;
      }
      return owners.get(orderId) ?? null;
    };
    const mayRead = async (u: AuthUser, orderId: string, event: RecordedEvent) => isAdmin(u) || (await ownerOf(orderId, event)) === u.id;

    let subscription = deps.eventStore.subscribeToAll(resumeAfter === null ? {} : { after: resumeAfter });
    const unsubscribe: (() => void)[] = [];
    if (isAdmin(user)) {
      unsubscribe.push(deps.onRebuildProgress?.((p) => stream.send('projection', { kind: 'rebuild', ...p }, undefined)) ?? (() => {}));
      const lastSent = new Map<string, number>();
      unsubscribe.push(
        deps.onProjectionChange?.((change) => {
          const now = Date.now();
          if (now - (lastSent.get(change.projection) ?? 0) < 1000) return;
          lastSent.set(change.projection, now);
          stream.send('projection', { kind: 'position', name: change.projection, position: change.position }, undefined);
        }) ?? (() => {}),
      );
    }
    const heartbeat = setInterval(() => stream.raw(`: ping\n\n`), heartbeatMs);
    let closed = false;
    let expiry: ReturnType<typeof setTimeout> | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(expiry);
      for (const off of unsubscribe) off();
      void subscription.close();
      uncount();
    };
    req.on('close', close);
    res.on('error', close);

    // The token was checked once, at open: the stream must not outlive it.
    const endAtExpiry = () => {
      const left = (req.authExpiresAt ?? Number.POSITIVE_INFINITY) - Date.now();
      if (!Number.isFinite(left)) return;
      if (left > MAX_TIMER_MS) {
        expiry = setTimeout(endAtExpiry, MAX_TIMER_MS);
        return;
      }
      expiry = setTimeout(() => {
        stream.send('expired', { reason: 'token expired' }, undefined);
        close();
        res.end();
      }, Math.max(0, left));
    };
    endAtExpiry();

    // A resume point far back would replay the whole log to each reconnecting client: past
    // `maxReplay` events the stream says `reset` (with the head's id) and goes on from the head.
    let replayed = 0;
    // Positions are opaque but sort in log order as strings (the port's promise), so comparing them is fine.
    let replayCut = headAtOpen === null || (resumeAfter !== null && resumeAfter >= headAtOpen);

    try {
      for (;;) {
        let restartAfter: LogPosition | undefined;
        for await (const event of subscription) {
          if (closed) break;
          if (!replayCut && headAtOpen !== null && event.position <= headAtOpen && ++replayed > maxReplay) {
            replayCut = true;
            restartAfter = headAtOpen ?? undefined;
            break;
          }
          await sendEvent(event);
          await stream.drained();
        }
        if (restartAfter === undefined || closed) break;
        await subscription.close();
        stream.send('reset', { after: restartAfter, reason: `more than ${maxReplay} events to replay; read the current state and follow from here` }, restartAfter);
        subscription = deps.eventStore.subscribeToAll({ after: restartAfter });
      }
    } finally {
      close();
      res.end();
    }

    async function sendEvent(event: RecordedEvent) {
      const id = event.position;
      if (isAdmin(user)) {
        stream.send('log', { position: id, streamId: event.streamId, revision: event.revision, type: event.type, at: event.metadata.occurredAt }, id);
      }
      // The products a stock event touches are the documents the products projection updates.
      const skus = productsProjection.docIds(event);
      if (skus.length > 0) stream.send('stock', { position: id, skus }, id);
      const orderId = orderIdOf(event);
      if (orderId && (await mayRead(user, orderId, event))) {
        const cause = { type: event.type, streamId: event.streamId, revision: event.revision };
        if (categoryOf(event.streamId) === 'saga') {
          const saga = await eventually(() => deps.sagas.includes(orderId, event.revision));
          stream.send('saga', { position: id, orderId, cause, saga: saga ?? (await deps.sagas.get(orderId)), stale: saga === null }, id);
        }
        const order = await eventually(() => deps.orders.includes(orderId, event.streamId, event.revision));
        stream.send('order', { position: id, orderId, cause, order: order ?? (await deps.orders.get(orderId)), stale: order === null }, id);
      }
    }
  });

  return router;
}

/** SSE framing over a response, with backpressure: the log is read no faster than the client takes it. */
function sseWriter(res: Response) {
  let full = false;
  res.on('drain', () => {
    full = false;
  });
  return {
    raw(text: string) {
      if (!res.writableEnded) full = !res.write(text) || full;
    },
    send(event: string, data: unknown, id: LogPosition | undefined) {
      const lines = [`event: ${event}`, ...(id === undefined ? [] : [`id: ${id}`]), `data: ${JSON.stringify(data)}`];
      this.raw(`${lines.join('\n')}\n\n`);
    },
    async drained() {
      if (!full || res.writableEnded) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    },
  };
}

/** One SSE event as a client's parser sees it: its name, its id (a global position) and its JSON `data`. */
const sseEvent = (event: string, data: z.ZodType, withId: boolean) => {
  const { $schema: _dialect, ...contentSchema } = z.toJSONSchema(data, { io: 'output' });
  return z.object({
    event: z.literal(event),
    data: z.string().meta({ contentMediaType: 'application/json', contentSchema }),
    ...(withId ? { id: z.string().regex(LAST_EVENT_ID) } : {}),
    retry: z.int().optional(),
  });
};
const position = z.string().regex(LAST_EVENT_ID);
const cause = z.object({ type: z.string(), streamId: z.string(), revision: z.int() });
const LiveEvent = z
  .union([
    sseEvent('ready', z.looseObject({ after: position.nullable() }), false),
    sseEvent('log', z.object({ position, streamId: z.string(), revision: z.int(), type: z.string(), at: z.string() }), true),
    sseEvent('stock', z.object({ position, skus: z.array(z.string()) }), true),
    sseEvent(
      'order',
      z.object({ position, orderId: z.string(), cause, order: z.looseObject({ orderId: z.string(), status: z.string() }).nullable(), stale: z.boolean() }),
      true,
    ),
    sseEvent(
      'saga',
      z.object({ position, orderId: z.string(), cause, saga: z.looseObject({ orderId: z.string(), state: z.string() }).nullable(), stale: z.boolean() }),
      true,
    ),
    sseEvent(
      'projection',
      z.union([
        z.looseObject({ kind: z.literal('rebuild'), projection: z.string(), phase: z.string() }),
        z.object({ kind: z.literal('position'), name: z.string(), position }),
      ]),
      false,
    ),
  ])
  .meta({ id: 'LiveEvent' });

export const livePaths: Paths = {
  '/api/live/ticket': {
    post: {
      operationId: 'liveTicket',
      tags: ['live'],
      summary: 'A one-use ticket to open the live stream with `?ticket=` (so no token goes in a URL)',
      security: [{ bearerAuth: [] }],
      responses: {
        '201': json('The ticket', z.object({ ticket: z.string(), expiresAt: z.string().meta({ format: 'date-time' }) })),
        ...problems(401, 429),
      },
    },
  },
  '/api/live': {
    get: {
      operationId: 'live',
      tags: ['live'],
      summary: 'Server-sent events: live order, saga, stock and (admin) log and projection updates',
      description: [
        'A `text/event-stream` that follows the global log. Each message’s `id` is the global position of the event behind it;',
        'reconnecting with `Last-Event-ID` (or `?lastEventId=`) resumes right after it. Events (`data` is JSON):',
        '',
        '- `ready` `{ after }`: the stream is open, resuming after that position;',
        '- `order` `{ position, orderId, cause, order, stale }`: the order read model once it reflects the event (own orders only);',
        '- `saga` `{ position, orderId, cause, saga, stale }`: likewise the saga, for saga events;',
        '- `stock` `{ position, skus }`: the products whose stock moved;',
        '- `log` `{ position, streamId, revision, type, at }` (admin): every event of the log;',
        '- `projection` `{ kind: "rebuild" | "position", ... }` (admin, no id): rebuild progress and projector positions.',
        '',
        'EventSource cannot send headers, so the token may come as `?access_token=` here (and only here).',
      ].join('\n'),
      security: [{ bearerAuth: [] }, { accessToken: [] }],
      requestParams: {
        query: LiveQuery,
        header: z.object({ 'last-event-id': z.string().regex(LAST_EVENT_ID).optional().meta({ description: 'The last id received' }) }),
      },
      responses: {
        '200': {
          description: 'The event stream; it stays open (a `: ping` comment every 15 s) until the client closes it',
          // As OpenAPI 3.2 reads an event stream: the schema describes each event (its `data` is JSON text).
          content: { 'text/event-stream': { schema: LiveEvent } },
        },
        ...problems(401),
      },
    },
  },
};
