/**
 * The composition root: each service of the system as a start function over the adapters.
 * `SERVICES=all` (the embedded default) runs every one in this process; the distributed
 * stack runs one per container. Dependencies are passed in; nothing here is a singleton.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import compression from 'compression';
import express, { type Express } from 'express';
import type { HelmetOptions } from 'helmet';
import { demoSeeding, type Config } from '@saga/platform/config';
import { ConflictError } from '@saga/platform/errors';
import { createJwt, loadOrCreateJwtSecret, type Jwt } from '@saga/platform/auth/jwt';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { problemOnClientError } from '@saga/platform/http/client-error';
import { authenticate, requireRole } from '@saga/platform/http/auth-middleware';
import { startMetricsServer, type MetricsServer } from '@saga/platform/http/metrics-server';
import type { Logger } from '@saga/platform/logging';
import { createMetrics, type Metrics } from '@saga/platform/metrics';
import type { Logger as ServiceLogger } from '@saga/command-services/shared/runtime';
import type { InventoryHandlers } from '@saga/command-services/inventory/handlers';
import type { OrderHandlers } from '@saga/command-services/order/handlers';
import { createSimulatedGateway } from '@saga/command-services/payment/simulated-gateway';
import { createUserStore } from '@saga/command-services/users/user-store';
import { createAuthRouter } from '@saga/command-services/http/auth-routes';
import { createCommandRouter } from '@saga/command-services/http/command-routes';
import { DEMO_USERS, seedDemo, type SeedDeps } from '@saga/command-services/seed';
import { sagaDefinitionRoutes } from '@saga/saga-orchestrator/routes';
import { relayCheckpointName } from '@saga/projections/relay/relay';
import { allProjections } from '@saga/projections/projectors/registry';
import type { ProjectorRunner } from '@saga/projections/projectors/runner';
import { createRebuildService } from '@saga/projections/rebuild/service';
import { storeLocationOf } from '@saga/projections/rebuild/stores';
import { createReadApi } from '@saga/read-api/read-api';
import type { Adapters } from '@saga/platform/adapters';
import { composeServices, type ComposedServices } from './compose';
import { methodNotAllowedRoutes, openApiRoutes } from './openapi';

export const serviceNames = ['gateway', 'relay', 'order', 'inventory', 'payment', 'email', 'saga', 'projector'] as const;
export type ServiceName = (typeof serviceNames)[number];

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
  /** Where it listens, for a service that does (the gateway). */
  url?: string;
}

export interface Context {
  config: Config;
  adapters: Adapters;
  logger: Logger;
  clock: () => Date;
  /** The services wired once (compose.ts): handlers and consumers of this process. */
  services: ComposedServices;
  /** Shared within a process, so the inventory's in-memory state and queue serve HTTP and bus alike. */
  inventory(): InventoryHandlers;
  orders(): OrderHandlers;
  /** Projector runners started in this process (the gateway's read API reports on them). */
  runners: ProjectorRunner[];
  /** One registry per process: the gateway serves it, the saga counts its dead-lettered commands in it. */
  metrics: Metrics;
}

export function serviceLogger(logger: Logger): ServiceLogger {
  return (level, message, fields) => logger[level](fields ?? {}, message);
}

export function createContext(config: Config, adapters: Adapters, logger: Logger): Context {
  const clock = () => new Date();
  const metrics = createMetrics('gateway');
  const services = composeServices(adapters, {
    stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
    clock,
    logger: (service) => serviceLogger(logger.child({ service })),
    // The simulated provider keeps its books, and payment its open attempts, in DATA_DIR: a
    // charge interrupted by a crash is reconciled with the provider on restart.
    dataDir: config.DATA_DIR,
    ...(config.SMTP_URL ? { smtpUrl: config.SMTP_URL } : {}),
    saga: {
      log: logger.child({ service: 'saga' }),
      metrics,
      // Timers wait for the default relay to have published what was stored before they fire. Only
      // on the embedded bus: the Kafka adapter caches a checkpoint it read, so another process's goes stale.
      ...(config.mode === 'embedded' ? { relayCheckpoint: relayCheckpointName('relay') } : {}),
    },
    onProjectorError: (error, projection) => logger.child({ service: 'projector' }).error({ err: error, projection }, 'projector failed'),
  });
  return {
    config,
    adapters,
    logger,
    clock,
    services,
    runners: services.runners,
    metrics,
    inventory: () => services.handlers.inventory,
    orders: () => services.handlers.order,
  };
}

const gateway = (config: Config) => createSimulatedGateway({ stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS });

/** Starts one service; returns what must be stopped on shutdown, in start order. */
export async function startService(name: ServiceName, ctx: Context): Promise<Stoppable[]> {
  const { adapters, config, logger } = ctx;
  const log = logger.child({ service: name });
  switch (name) {
    case 'relay': {
      const relay = await ctx.services.startRelay({ topicPartitions: config.BUS_PARTITIONS, log: (msg, extra) => log.info(extra ?? {}, msg) });
      return [{ name, stop: () => relay.stop() }];
    }
    case 'payment': {
      const consumer = await ctx.services.consumers.payment();
      return [
        {
          name,
          stop: async () => {
            await consumer.stop();
            ctx.services.close();
          },
        },
      ];
    }
    case 'order':
    case 'inventory':
    case 'email':
    case 'saga':
    case 'projector': {
      const consumer = await ctx.services.consumers[name]();
      return [{ name, stop: () => consumer.stop() }];
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
  const seeding = demoSeeding(config);
  if (!seeding.publicDemoPasswordsAllowed) {
    // An install seeded on loopback and now bound to every interface would expose the published passwords.
    for (const demo of DEMO_USERS) {
      if (await users.authenticate(demo.email, demo.password)) {
        throw new Error(
          `refusing to listen on HOST=${config.HOST}: the demo account ${demo.email} still has its published password. ` +
            'Bind to 127.0.0.1, start from an empty DATA_DIR, or set SEED_DEMO_PUBLIC=true to accept it.',
        );
      }
    }
  }
  // Seeded while the gateway already listens: on a log with no warehouse snapshot (imported, or
  // the read models' file deleted) the catalog's check folds the whole stream, which held the
  // first /healthz back 1.7 s on a million events. Requests other than /healthz and /metrics
  // wait for it (a login must find the demo users), and a failed seeding still fails the start.
  const seeded: Promise<void> = seeding.seed ? seedDemoData({ users, inventory }, log) : Promise.resolve();
  let seedingOver = false;
  // A failure is raised below, once listening.
  void seeded.then(() => (seedingOver = true), () => undefined);
  (seeding.publicDemoPasswordsAllowed ? log.info.bind(log) : log.warn.bind(log))({ host: config.HOST, seedDemo: seeding.seed }, seeding.note);
  const rebuilds = createRebuildService({
    eventStore: adapters.store,
    documentStore: adapters.docs,
    projections: allProjections,
    // Rebuilds run in a worker thread; every projector replica, here or in another process, is paused through the bus across the swap.
    bus: adapters.bus,
    worker: { at: storeLocationOf(config) },
    onError: (error, projection) => log.error({ err: error, projection }, 'rebuild failed'),
  });

  const metrics = ctx.metrics;
  // /metrics shows volumes and failed logins: for admins on the gateway, or open on a private listener only.
  const metricsServer: MetricsServer | undefined =
    config.METRICS_PORT === undefined ? undefined : await startMetricsServer({ metrics, host: config.METRICS_HOST, port: config.METRICS_PORT });
  const app = createHttpApp({
    name: 'gateway',
    logger: log,
    metrics,
    metricsAccess: metricsServer ? false : [authenticate(jwt), requireRole('admin')],
    helmet: gatewayHelmet,
  });
  app.use((_req, _res, next) => (seedingOver ? next() : void seeded.then(() => next(), next)));
  app.use(compressed);
  app.use(methodNotAllowedRoutes());
  app.use(
    createAuthRouter({
      users,
      jwt,
      loginRateLimit: { windowMs: 60_000, limit: config.LOGIN_LIMIT_PER_IP },
      loginAccountRateLimit: { windowMs: 60_000, limit: config.LOGIN_LIMIT_PER_ACCOUNT },
    }),
  );
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
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  log.info(
    { host: config.HOST, port, metrics: metricsServer ? `${metricsServer.url}/metrics` : 'GET /metrics on the gateway, admin token required' },
    `gateway listening on ${url}`,
  );
  try {
    await seeded;
  } catch (error) {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
    await metricsServer?.close();
    throw error;
  }
  return {
    name: 'gateway',
    url,
    stop: async () => {
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      // Long-lived SSE connections would hold close() open forever.
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 2_000).unref();
      await closed;
      await metricsServer?.close();
    },
  };
}

/**
 * The demo users and catalog, where missing. In both modes; with several gateways each seeds,
 * harmlessly: user ids derive from the email and the catalog lives in one stream appended at an
 * exact revision, where adding a product already there is ignored. A ConflictError means another
 * gateway registered a demo user between this one's check and its insert: the next pass finds it
 * there. Two gateways started together can meet on every demo user in turn, so each conflict is
 * a pass of its own (each one means a user more exists, so the passes are bounded).
 */
async function seedDemoData(deps: SeedDeps, log: Logger): Promise<void> {
  for (let passesLeft = DEMO_USERS.length + 1; ; passesLeft--) {
    try {
      const seeded = await seedDemo(deps);
      if (seeded.usersCreated.length + seeded.productsAdded.length > 0) log.info(seeded, 'seeded demo users and catalog');
      return;
    } catch (error) {
      if (!(error instanceof ConflictError) || passesLeft <= 1) throw error;
    }
  }
}

/**
 * Helmet's defaults minus `upgrade-insecure-requests`: a deployment opened over plain HTTP by
 * a LAN address or hostname would have every script rewritten to https and stay blank
 * (loopback is exempt, which is why local runs never showed it). Behind TLS nothing is lost:
 * every URL the app loads is same-origin and relative. HSTS is left to the TLS terminator
 * for the same reason: sent over http it means nothing, sent over https by us it would pin
 * a host that may still be served over http.
 */
export const gatewayHelmet: HelmetOptions = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  strictTransportSecurity: false,
};

/** gzip/brotli for the app and the JSON; never for SSE, which must reach the client event by event. */
const compressed = compression({
  filter: (req, res) => !String(res.getHeader('content-type') ?? '').startsWith('text/event-stream') && compression.filter(req, res),
});

/**
 * The built React app (frontend/dist) on the same origin as the APIs. index.html is always
 * revalidated, so a redeploy reaches open and cached tabs; the hashed assets never change
 * under their name and are cached for good; a missing asset (an old tab asking for the
 * chunk of the previous build) is a real 404, which the app answers with one reload,
 * rather than index.html served as JavaScript.
 */
export function serveFrontend(app: Express, log: Logger, dist = resolve(import.meta.dirname, '..', 'frontend', 'dist')): void {
  if (!existsSync(join(dist, 'index.html'))) {
    log.warn({ dist }, 'frontend not built: run `npm run build` to serve the UI');
    return;
  }
  const sendIndex = (res: express.Response) => res.setHeader('cache-control', 'no-cache').sendFile(join(dist, 'index.html'));
  app.use(
    '/assets',
    express.static(join(dist, 'assets'), { immutable: true, maxAge: '1y', index: false, fallthrough: true }),
    (_req, res) => res.status(404).type('text/plain').send('no such asset (the app was probably redeployed: reload the page)'),
  );
  app.use(
    express.static(dist, {
      index: false,
      setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
    }),
  );
  // Client routes only: a path whose last segment has a dot names a file, and a missing file is a 404.
  app.get(/^\/(?!api\/|api$|healthz|metrics)(?:[^.]*\/)?[^/.]*$/, (_req, res) => sendIndex(res));
}
