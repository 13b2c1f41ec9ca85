import { Router, type RequestHandler } from 'express';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import { requireRole, userOf } from '@saga/platform/http/auth-middleware';
import { NotFoundError, ValidationError } from '@saga/platform/errors';
import type { MailboxQueries } from '@saga/projections/projectors/mailbox';
import type { OrderQueries } from '@saga/projections/projectors/orders';
import type { ProductQueries } from '@saga/projections/projectors/products';
import type { SagaStatsQueries } from '@saga/projections/projectors/saga-stats';
import type { SagaQueries, SagaView } from '@saga/projections/projectors/sagas';
import type { StatsQueries } from '@saga/projections/projectors/stats';
import { isAdmin, type VisibleOrder } from './access';
import { EmptyQuery, MailboxQuery, OrderIdParams, OrdersQuery, SagaEdgeParams, SagasQuery, SagaStateInstancesQuery, SagaStateParams, SagaStatsQuery } from './params';
import { MailboxPage, Order, OrderPage, ProductList, Saga, SagaInStatePage, SagaOnEdgePage, SagaPage, SagaStats, Stats } from './responses';

export interface ReadModelQueries {
  orders: OrderQueries;
  sagas: SagaQueries;
  products: ProductQueries;
  stats: StatsQueries;
  mailbox: MailboxQueries;
  sagaStats: SagaStatsQueries;
}

/** The typed search of an instance list, without the absent parameters. */
function instanceSearch(query: ReturnType<typeof SagaStateInstancesQuery.parse>) {
  const { limit, ...rest } = query;
  return { limit: limit ?? 50, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
}

/**
 * The read models' routes. `auth` is the authenticate middleware; the catalog is public.
 * `visibleOrder` reads one order for a user who may see it (access.ts: it waits for an order
 * just placed).
 */
export function queryRoutes(q: ReadModelQueries, visibleOrder: VisibleOrder, auth: RequestHandler): Router {
  const router = Router();

  router.get('/api/products', async (req, res) => {
    parseWith(EmptyQuery, req.query, 'query');
    const items = await q.products.list();
    res.json({ items: items.map(({ sku, name, price, currency, available, reserved }) => ({ sku, name, price, currency, available, reserved })) });
  });

  router.get('/api/orders', auth, async (req, res) => {
    const user = userOf(req);
    const query = parseWith(OrdersQuery, req.query, 'query');
    // A customer sees their own orders only: a customer filter is for admins, refused rather than ignored.
    for (const field of ['customerId', 'customer'] as const) {
      if (!isAdmin(user) && query[field] !== undefined) {
        throw new ValidationError(`${field} filters all orders and is for admins only`, [{ path: [field], message: 'admins only' }]);
      }
    }
    const page = await q.orders.list({
      ...(isAdmin(user) ? { ...(query.customerId ? { customerId: query.customerId } : {}), ...(query.customer ? { customerEmail: query.customer } : {}) } : { customerId: user.id }),
      ...(query.status ? { status: query.status } : {}),
      ...listWindow(query),
      ...(query.cursor ? { cursor: query.cursor } : {}),
      limit: query.limit ?? 20,
    });
    res.json(page);
  });

  router.get('/api/orders/:orderId', auth, async (req, res) => {
    const { orderId } = parseWith(OrderIdParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    res.json(await visibleOrder(userOf(req), orderId));
  });

  router.get('/api/sagas', auth, requireRole('admin'), async (req, res) => {
    const query = parseWith(SagasQuery, req.query, 'query');
    const limit = query.limit ?? 20;
    let page: { items: SagaView[]; nextCursor: string | null };
    if (query.customer) {
      // A saga knows no customer; its order does (same id, placed the instant it started). So a
      // customer's sagas are their orders' sagas, paged by the orders' cursor; a status filter
      // then keeps that page's matches, and a page may hold fewer than `limit`.
      const orders = await q.orders.list({ customerEmail: query.customer, ...listWindow(query), ...(query.cursor ? { cursor: query.cursor } : {}), limit });
      const byId = new Map((await q.sagas.getMany(orders.items.map((o) => o.orderId))).map((s) => [s.orderId, s]));
      const items = orders.items.map((o) => byId.get(o.orderId)).filter((s): s is SagaView => s !== undefined && (!query.status || s.status === query.status));
      page = { items, nextCursor: orders.nextCursor };
    } else {
      page = await q.sagas.list({ ...(query.status ? { status: query.status } : {}), ...listWindow(query), ...(query.cursor ? { cursor: query.cursor } : {}), limit });
    }
    // Whose saga each is, from the order read model: the list's customer column.
    const owners = new Map((await q.orders.getMany(page.items.map((s) => s.orderId))).map((o) => [o.orderId, o]));
    res.json({
      items: page.items.map((s) => ({ ...s, customerId: owners.get(s.orderId)?.customerId ?? null, customerEmail: owners.get(s.orderId)?.customerEmail ?? null })),
      nextCursor: page.nextCursor,
    });
  });

  // Exact counts from the saga-stats projection: `{ total, states: { name: count }, transitions: { "from->to": count } }`.
  router.get('/api/saga-stats', auth, requireRole('admin'), async (req, res) => {
    const { version } = parseWith(SagaStatsQuery, req.query, 'query');
    res.json(await q.sagaStats.get(version));
  });

  router.get('/api/saga-stats/states/:state/instances', auth, requireRole('admin'), async (req, res) => {
    const { state } = parseWith(SagaStateParams, req.params, 'path');
    const query = parseWith(SagaStateInstancesQuery, req.query, 'query');
    res.json(await q.sagaStats.inState({ ...instanceSearch(query), state }));
  });

  router.get('/api/saga-stats/transitions/:from/:to/instances', auth, requireRole('admin'), async (req, res) => {
    const { from, to } = parseWith(SagaEdgeParams, req.params, 'path');
    const query = parseWith(SagaStateInstancesQuery, req.query, 'query');
    res.json(await q.sagaStats.onEdge({ ...instanceSearch(query), edge: `${from}->${to}` }));
  });

  router.get('/api/sagas/:orderId', auth, async (req, res) => {
    const { orderId } = parseWith(OrderIdParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    const user = userOf(req);
    // A customer sees the saga of their own order; the order read model says whose it is.
    if (!isAdmin(user)) await visibleOrder(user, orderId);
    const saga = await q.sagas.get(orderId);
    if (!saga) throw new NotFoundError(`no saga for order ${orderId}`);
    // Documents projected before versions and stuck conditions existed: version 1, not stuck.
    res.json({ ...saga, version: saga.version ?? 1, stuck: saga.stuck ?? null });
  });

  router.get('/api/stats', auth, requireRole('admin'), async (req, res) => {
    parseWith(EmptyQuery, req.query, 'query');
    res.json(await q.stats.get());
  });

  router.get('/api/mailbox', auth, async (req, res) => {
    const user = userOf(req);
    const query = parseWith(MailboxQuery, req.query, 'query');
    const page = await q.mailbox.list({
      ...(isAdmin(user) ? (query.to ? { to: query.to } : {}) : { to: user.email }),
      ...(query.cursor ? { cursor: query.cursor } : {}),
      limit: query.limit ?? 50,
    });
    res.json({
      items: page.items.map((m) => ({
        emailId: m.emailId,
        orderId: m.orderId,
        to: m.to,
        subject: m.subject,
        body: m.body,
        template: m.template,
        status: m.status,
        error: m.error,
        attempts: m.attempts,
        sentAt: m.sentAt,
      })),
      nextCursor: page.nextCursor,
    });
  });

  return router;
}

/** The id-prefix and time-window filters, as the list queries take them. */
function listWindow(query: { q?: string | undefined; since?: string | undefined; until?: string | undefined }) {
  return { ...(query.q ? { idPrefix: query.q } : {}), ...(query.since ? { since: query.since } : {}), ...(query.until ? { until: query.until } : {}) };
}

const orderIdPath = { path: OrderIdParams };

export const queryPaths: Paths = {
  '/api/products': {
    get: {
      operationId: 'listProducts',
      tags: ['catalog'],
      summary: 'The catalog with live stock (public)',
      security: [],
      requestParams: { query: EmptyQuery },
      responses: { '200': json('Every product', ProductList), ...problems() },
    },
  },
  '/api/orders': {
    get: {
      operationId: 'listOrders',
      tags: ['orders'],
      summary: 'Orders, newest first: a customer’s own, or every order for an admin',
      security: bearer,
      requestParams: { query: OrdersQuery },
      responses: { '200': json('A page of orders', OrderPage), ...problems(401) },
    },
  },
  '/api/orders/{orderId}': {
    get: {
      operationId: 'getOrder',
      tags: ['orders'],
      summary: 'One order, as the read model has it',
      description:
        'As the read model has it, which trails the log by milliseconds: an order already placed but not yet projected is waited for (up to 5 s), so the `Location` of `placeOrder` answers once the read model has it; past that, a 503 with Retry-After.',
      security: bearer,
      requestParams: { ...orderIdPath, query: EmptyQuery },
      responses: {
        '200': json('The order', Order, {
          links: { CancelOrder: { operationId: 'cancelOrder', parameters: { orderId: '$response.body#/orderId' } } },
        }),
        ...problems(401, 404, 503),
      },
    },
  },
  '/api/sagas': {
    get: {
      operationId: 'listSagas',
      tags: ['sagas'],
      summary: 'Saga instances, newest first (admin)',
      security: bearer,
      requestParams: { query: SagasQuery },
      responses: { '200': json('A page of sagas', SagaPage), ...problems(401, 403) },
    },
  },
  '/api/saga-stats': {
    get: {
      operationId: 'getSagaStats',
      tags: ['sagas'],
      summary: 'Exact per-state and per-transition counts over every saga (admin)',
      description: '`version`: the counts over the sagas that run that definition version now (a migrated saga counts under its new version).',
      security: bearer,
      requestParams: { query: SagaStatsQuery },
      responses: { '200': json('The counts', SagaStats), ...problems(401, 403) },
    },
  },
  '/api/saga-stats/states/{state}/instances': {
    get: {
      operationId: 'listSagasInState',
      tags: ['sagas'],
      summary: 'The sagas now in one state, most recently entered first (admin)',
      description: 'Searchable by order id prefix, customer email, the time they entered it (`since` <= t < `until`) and version.',
      security: bearer,
      requestParams: { path: SagaStateParams, query: SagaStateInstancesQuery },
      responses: { '200': json('A page of sagas in that state', SagaInStatePage), ...problems(401, 403) },
    },
  },
  '/api/saga-stats/transitions/{from}/{to}/instances': {
    get: {
      operationId: 'listSagasOnTransition',
      tags: ['sagas'],
      summary: 'The sagas that took one transition, most recent first (admin)',
      description: 'Searchable like the state instances, by the time they first took it.',
      security: bearer,
      requestParams: { path: SagaEdgeParams, query: SagaStateInstancesQuery },
      responses: { '200': json('A page of sagas that took that edge', SagaOnEdgePage), ...problems(401, 403) },
    },
  },
  '/api/sagas/{orderId}': {
    get: {
      operationId: 'getSaga',
      tags: ['sagas'],
      summary: 'The saga of one order: state, path, step timings',
      security: bearer,
      requestParams: { ...orderIdPath, query: EmptyQuery },
      responses: { '200': json('The saga', Saga), ...problems(401, 404, 503) },
    },
  },
  '/api/stats': {
    get: {
      operationId: 'getStats',
      tags: ['sagas'],
      summary: 'System-wide figures (admin)',
      security: bearer,
      requestParams: { query: EmptyQuery },
      responses: { '200': json('Orders by status, money, saga outcomes', Stats), ...problems(401, 403) },
    },
  },
  '/api/mailbox': {
    get: {
      operationId: 'listMail',
      tags: ['orders'],
      summary: 'Emails sent (the embedded mailbox): a customer’s own, or all for an admin',
      security: bearer,
      requestParams: { query: MailboxQuery },
      responses: { '200': json('A page of emails', MailboxPage), ...problems(401) },
    },
  },
};
