/**
 * The composition root: each service of the system as a start function over the adapters.
 * `SERVICES=all` (the embedded default) runs every one in this process; the distributed
 * stack runs one per container. Dependencies are passed in; nothing here is a singleton.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import express, { type Express } from 'express';
import type { Config } from '@saga/platform/config';
import { createJwt, loadOrCreateJwtSecret, type Jwt } from '@saga/platform/auth/jwt';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { problemOnClientError } from '@saga/platform/http/client-error';
import type { Logger } from '@saga/platform/logging';
import { createMetrics } from '@saga/platform/metrics';
import type { Logger as ServiceLogger } from '@saga/command-services/shared/runtime';
import { createInventoryHandlers, type InventoryHandlers } from '@saga/command-services/inventory/handlers';
import { startInventoryConsumer } from '@saga/command-services/inventory/consumer';
import { createOrderHandlers, type OrderHandlers } from '@saga/command-services/order/handlers';
import { startOrderConsumer } from '@saga/command-services/order/consumer';
import { createPaymentHandlers } from '@saga/command-services/payment/handlers';
import { startPaymentConsumer } from '@saga/command-services/payment/consumer';
import { createSimulatedGateway } from '@saga/command-services/payment/simulated-gateway';
import { createEmailHandlers } from '@saga/command-services/email/handlers';
import { startEmailConsumer } from '@saga/command-services/email/consumer';
import { createNodemailerMailer } from '@saga/command-services/email/nodemailer-mailer';
import { createUserStore } from '@saga/command-services/users/user-store';
import { createAuthRouter } from '@saga/command-services/http/auth-routes';
import { createCommandRouter } from '@saga/command-services/http/command-routes';
import { seedDemo } from '@saga/command-services/seed';
import { startSagaRuntime } from '@saga/saga-orchestrator/runtime';
import { sagaDefinitionRoutes } from '@saga/saga-orchestrator/routes';
import { startRelay } from '@saga/projections/relay/relay';
import { allProjections } from '@saga/projections/projectors/registry';
import { createProjectorRunner, type ProjectorRunner } from '@saga/projections/projectors/runner';
import { createRebuildService } from '@saga/projections/rebuild/service';
import { createReadApi } from '@saga/read-api/read-api';
import type { Adapters } from '@saga/platform/adapters';
import { methodNotAllowedRoutes, openApiRoutes } from './openapi';

export const serviceNames = ['gateway', 'relay', 'order', 'inventory', 'payment', 'email', 'saga', 'projector'] as const;
export type ServiceName = (typeof serviceNames)[number];

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export interface Context {
  config: Config;
  adapters: Adapters;
  logger: Logger;
  clock: () => Date;
  /** Shared within a process, so the inventory's in-memory state and queue serve HTTP and bus alike. */
  inventory(): InventoryHandlers;
  orders(): OrderHandlers;
  /** Projector runners started in this process (the gateway's read API reports on them). */
  runners: ProjectorRunner[];
}

export function serviceLogger(logger: Logger): ServiceLogger {
  return (level, message, fields) => logger[level](fields ?? {}, message);
}

export function createContext(config: Config, adapters: Adapters, logger: Logger): Context {
  const clock = () => new Date();
  let inventory: InventoryHandlers | undefined;
  let orders: OrderHandlers | undefined;
  const context: Context = {
    config,
    adapters,
    logger,
    clock,
    runners: [],
    inventory: () =>
      (inventory ??= createInventoryHandlers({ store: adapters.store, clock, logger: serviceLogger(logger.child({ service: 'inventory' })) })),
    orders: () =>
      (orders ??= createOrderHandlers({
        store: adapters.store,
        clock,
        priceLookup: context.inventory().priceLookup,
        logger: serviceLogger(logger.child({ service: 'order' })),
      })),
  };
  return context;
}

const gateway = (config: Config) => createSimulatedGateway({ stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS });

/** Starts one service; returns what must be stopped on shutdown, in start order. */
export async function startService(name: ServiceName, ctx: Context): Promise<Stoppable[]> {
  const { adapters, config, logger } = ctx;
  const log = logger.child({ service: name });
  switch (name) {
    case 'relay': {
      const relay = await startRelay({
        store: adapters.store,
        bus: adapters.bus,
        topicPartitions: config.BUS_PARTITIONS,
        log: (msg, extra) => log.info(extra ?? {}, msg),
      });
      return [{ name, stop: () => relay.stop() }];
    }
    case 'order': {
      const consumer = await startOrderConsumer({ bus: adapters.bus, handlers: ctx.orders(), logger: serviceLogger(log) });
      return [{ name, stop: () => consumer.stop() }];
    }
    case 'inventory': {
      const consumer = await startInventoryConsumer({ bus: adapters.bus, handlers: ctx.inventory(), logger: serviceLogger(log) });
      return [{ name, stop: () => consumer.stop() }];
    }
    case 'payment': {
      const handlers = createPaymentHandlers({ store: adapters.store, gateway: gateway(config), clock: ctx.clock, logger: serviceLogger(log) });
      const consumer = await startPaymentConsumer({ bus: adapters.bus, handlers, logger: serviceLogger(log) });
      return [{ name, stop: () => consumer.stop() }];
    }
    case 'email': {
      const mailer = createNodemailerMailer(config.SMTP_URL ? { smtpUrl: config.SMTP_URL } : {});
      const handlers = createEmailHandlers({ store: adapters.store, mailer, clock: ctx.clock, logger: serviceLogger(log) });
      const consumer = await startEmailConsumer({ bus: adapters.bus, handlers, logger: serviceLogger(log) });
      return [{ name, stop: () => consumer.stop() }];
    }
    case 'saga': {
      const runtime = await startSagaRuntime({
        store: adapters.store,
        bus: adapters.bus,
        stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
        clock: ctx.clock,
        log,
      });
      return [{ name, stop: () => runtime.stop() }];
    }
    case 'projector': {
      const runners = allProjections.map((projection) =>
        createProjectorRunner({
          bus: adapters.bus,
          store: adapters.docs,
          projection,
          onError: (error) => log.error({ err: error, projection: projection.name }, 'projector failed'),
        }),
      );
      for (const runner of runners) await runner.start();
      ctx.runners.push(...runners);
      return runners.map((runner) => ({ name: `projector:${runner.projection.name}`, stop: () => runner.stop() }));
    }
    case 'gateway':
      return [await startGateway(ctx, log)];
  }
}

async function startGateway(ctx: Context, log: Logger): Promise<Stoppable> {
  const { adapters, config } = ctx;
  const jwt: Jwt = createJwt({
    secret: loadOrCreateJwtSecret(config.DATA_DIR),
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.JWT_TTL_SECONDS,
  });
  const users = await createUserStore(adapters.docs, ctx.clock);
  const inventory = ctx.inventory();
  if (config.mode === 'embedded' && config.SEED_DEMO === 'true') {
    const seeded = await seedDemo({ users, inventory });
    if (seeded.usersCreated.length + seeded.productsAdded.length > 0) log.info(seeded, 'seeded demo users and catalog');
  }
  const rebuilds = createRebuildService({
    eventStore: adapters.store,
    documentStore: adapters.docs,
    projections: allProjections,
    liveOf: (name) => ctx.runners.find((r) => r.projection.name === name),
    onError: (error, projection) => log.error({ err: error, projection }, 'rebuild failed'),
  });

  const app = createHttpApp({ name: 'gateway', logger: log, metrics: createMetrics('gateway') });
  app.use(methodNotAllowedRoutes());
  app.use(createAuthRouter({ users, jwt }));
  app.use(createCommandRouter({ jwt, orders: ctx.orders(), inventory, payments: gateway(config) }));
  app.use(sagaDefinitionRoutes({ stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS }));
  app.use(openApiRoutes());
  app.use(
    await createReadApi({
      jwt,
      documentStore: adapters.docs,
      eventStore: adapters.store,
      bus: adapters.bus,
      rebuilds,
      runners: ctx.runners,
    }),
  );
  serveFrontend(app, log);
  finishApp(app);

  const server: Server = app.listen(config.PORT, config.HOST);
  problemOnClientError(server);
  await new Promise<void>((ok, fail) => server.once('listening', ok).once('error', fail));
  return {
    name: 'gateway',
    stop: async () => {
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      // Long-lived SSE connections would hold close() open forever.
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 2_000).unref();
      await closed;
    },
  };
}

/** The built React app (frontend/dist) on the same origin as the APIs, with history-routing fallback. */
function serveFrontend(app: Express, log: Logger): void {
  const dist = resolve(import.meta.dirname, '..', 'frontend', 'dist');
  if (!existsSync(join(dist, 'index.html'))) {
    log.warn({ dist }, 'frontend not built: run `npm run build` to serve the UI');
    return;
  }
  app.use(express.static(dist, { index: 'index.html', maxAge: '1h' }));
  app.get(/^\/(?!api\/|api$|healthz|metrics).*/, (_req, res) => res.sendFile(join(dist, 'index.html')));
}
