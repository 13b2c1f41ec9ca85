import { Router, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf } from '@saga/event-schemas/streams';
import type { AuthUser } from '@saga/platform/auth/jwt';
import type { EventStore } from '@saga/platform/event-store/port';
import { ValidationError } from '@saga/platform/errors';
import { userOf } from '@saga/platform/http/auth-middleware';
import { problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import type { OrderQueries } from '@saga/projections/projectors/orders';
import { productsProjection } from '@saga/projections/projectors/products';
import type { SagaQueries } from '@saga/projections/projectors/sagas';
import type { ProjectionChange } from '@saga/projections/projectors/runner';
import type { RebuildProgress } from '@saga/projections/rebuild/rebuild';
import { isAdmin } from './access';
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
 * projector positions.
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
}

const orderIdOf = (event: RecordedEvent): string | null =>
  'orderId' in event.data && typeof event.data.orderId === 'string' ? event.data.orderId : null;

const LAST_EVENT_ID = /^[0-9]{1,15}$/;

export function liveRoute(deps: LiveDeps, auth: RequestHandler): Router {
  const router = Router();
  const waitMs = deps.projectionWaitMs ?? 2000;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;

  // Streams waiting for a projector to apply an event are woken by its change notifications.
  const wakers = new Set<() => void>();
  deps.onProjectionChange?.(() => {
    for (const wake of [...wakers]) wake();
  });
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });
  async function eventually<T>(read: () => Promise<T | null>): Promise<T | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const value = await read();
      if (value !== null || Date.now() >= deadline) return value;
      await nap(Math.min(50, Math.max(1, deadline - Date.now())));
    }
  }

  router.get('/api/live', auth, async (req, res) => {
    const user = userOf(req);
    const query = parseWith(LiveQuery, req.query, 'query');
    const header = req.headers['last-event-id'];
    if (header !== undefined && (typeof header !== 'string' || !LAST_EVENT_ID.test(header))) {
      throw new ValidationError('Last-Event-ID must be a global log position', [{ path: ['Last-Event-ID'], message: 'expected an integer' }]);
    }
    const resumeAfter = header !== undefined ? Number(header) : (query.lastEventId ?? (await deps.eventStore.headPosition()));

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

    const subscription = deps.eventStore.subscribeToAll({ after: resumeAfter });
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
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      for (const off of unsubscribe) off();
      void subscription.close();
    };
    req.on('close', close);
    res.on('error', close);

    try {
      for await (const event of subscription) {
        if (closed) break;
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
        await stream.drained();
      }
    } finally {
      close();
      res.end();
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
    send(event: string, data: unknown, id: number | undefined) {
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
const position = z.int().min(0);
const cause = z.object({ type: z.string(), streamId: z.string(), revision: z.int() });
const LiveEvent = z
  .union([
    sseEvent('ready', z.object({ after: z.int().min(-1) }), false),
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
        z.object({ kind: z.literal('position'), name: z.string(), position: z.int() }),
      ]),
      false,
    ),
  ])
  .meta({ id: 'LiveEvent' });

export const livePaths: Paths = {
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
