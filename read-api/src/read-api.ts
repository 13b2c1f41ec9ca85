import { Router } from 'express';
import type { Jwt } from '@saga/platform/auth/jwt';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import { authenticate } from '@saga/platform/http/auth-middleware';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openMailboxQueries } from '@saga/projections/projectors/mailbox';
import { openOrderQueries } from '@saga/projections/projectors/orders';
import { openProductQueries } from '@saga/projections/projectors/products';
import type { AnyProjection } from '@saga/projections/projectors/projection';
import { allProjections } from '@saga/projections/projectors/registry';
import type { ProjectionChange, ProjectorRunner } from '@saga/projections/projectors/runner';
import { openSagaStatsQueries } from '@saga/projections/projectors/saga-stats';
import { openSagaQueries } from '@saga/projections/projectors/sagas';
import { openStatsQueries } from '@saga/projections/projectors/stats';
import type { RebuildService } from '@saga/projections/rebuild/service';
import { orderAccess } from './access';
import { catchUp } from './catch-up';
import { deadLetterRoutes } from './dead-letter-routes';
import { explorerRoutes } from './explorer-routes';
import { liveRoute } from './live';
import { projectionRoutes } from './projection-routes';
import { queryRoutes } from './query-routes';
import { sagaOperatorRoutes } from './saga-routes';

export interface ReadApiDeps {
  jwt: Pick<Jwt, 'verifyWithExpiry'>;
  documentStore: DocumentStore;
  eventStore: EventStore;
  bus: MessageBus;
  rebuilds: RebuildService;
  /** The projector runners in this process (none when they run elsewhere): status and live wake-ups. */
  runners?: readonly ProjectorRunner[];
  projections?: readonly AnyProjection[];
  live?: { projectionWaitMs?: number; heartbeatMs?: number };
  /** How long a read of an order just placed waits for the read model to show it (access.ts). Default 5000 ms. */
  orderCatchUpMs?: number;
}

/**
 * The query API: a router with absolute `/api/...` paths, mounted by the gateway on the same
 * origin as the command API, before its 404 and problem+json handlers (`finishApp`).
 */
export async function createReadApi(deps: ReadApiDeps): Promise<Router> {
  const runners = deps.runners ?? [];
  const projections = deps.projections ?? allProjections;
  const queries = {
    orders: await openOrderQueries(deps.documentStore),
    sagas: await openSagaQueries(deps.documentStore),
    products: await openProductQueries(deps.documentStore),
    stats: await openStatsQueries(deps.documentStore),
    mailbox: await openMailboxQueries(deps.documentStore),
    sagaStats: await openSagaStatsQueries(deps.documentStore),
  };
  const auth = authenticate(deps.jwt);
  const onProjectionChange = (listener: (change: ProjectionChange) => void) => {
    const offs = runners.map((r) => r.onChange(listener));
    return () => offs.forEach((off) => off());
  };

  const visibleOrder = orderAccess({ orders: queries.orders, eventStore: deps.eventStore, eventually: catchUp(onProjectionChange), ...(deps.orderCatchUpMs === undefined ? {} : { catchUpMs: deps.orderCatchUpMs }) });

  const router = Router();
  router.use(queryRoutes(queries, visibleOrder, auth));
  router.use(await deadLetterRoutes({ documentStore: deps.documentStore, bus: deps.bus }, auth));
  router.use(await sagaOperatorRoutes({ eventStore: deps.eventStore, bus: deps.bus, sagaStats: queries.sagaStats }, auth));
  router.use(explorerRoutes({ eventStore: deps.eventStore, bus: deps.bus, visibleOrder }, auth));
  router.use(
    projectionRoutes(
      { projections, runners, eventStore: deps.eventStore, documentStore: deps.documentStore, bus: deps.bus, rebuilds: deps.rebuilds },
      auth,
    ),
  );
  router.use(
    liveRoute(
      {
        eventStore: deps.eventStore,
        orders: queries.orders,
        sagas: queries.sagas,
        onProjectionChange,
        onRebuildProgress: (listener) => deps.rebuilds.onProgress(listener),
        ...deps.live,
      },
      authenticate(deps.jwt, { allowQueryToken: true }),
    ),
  );
  return router;
}
