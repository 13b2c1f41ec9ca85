/**
 * `npm start`: the whole system in one process on the embedded default (SQLite under
 * DATA_DIR), or the services named in SERVICES against the servers the environment names.
 * `node app/run.mjs main <service,...>` names them on the command line instead (a process per
 * service, as the multi-process test and a process manager start them).
 * SIGINT/SIGTERM stop it cleanly: HTTP first, then consumers, then the stores, within
 * SHUTDOWN_BOUND_MS; past it the process exits 1 and says what was still stopping.
 */
import { DEMO_USERS } from '@saga/command-services/seed';
import { loadConfig, type Config } from '@saga/platform/config';
import { createLogger } from '@saga/platform/logging';
import { openAdapters, type Adapters } from '@saga/platform/adapters';
import { createContext, serviceNames, startService, type ServiceName, type Stoppable } from './services';

function chosenServices(value: string | undefined): ServiceName[] {
  if (!value || value === 'all') return [...serviceNames];
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(serviceNames as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`SERVICES: unknown ${unknown.join(', ')}; choose from ${serviceNames.join(', ')} or all`);
  // Start in dependency order whatever order they were listed in.
  return serviceNames.filter((n) => names.includes(n));
}

/** How long a stop may take before the process gives up on it (SSE clients are cut after 2 s). */
const SHUTDOWN_BOUND_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const services = chosenServices(process.argv[2] ?? process.env.SERVICES);
  const logger = createLogger({ name: 'order-saga', level: config.LOG_LEVEL });
  const running: Stoppable[] = [];
  let adapters: Adapters | undefined;
  // What is being opened or started when a signal arrives: the stop waits for it, then stops it too.
  let starting: Promise<unknown> = Promise.resolve();

  let stopping: Promise<void> | undefined;
  let current = 'waiting for the service being started';
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down');
      const bound = setTimeout(() => {
        logger.error({ signal, stillStopping: current, boundMs: SHUTDOWN_BOUND_MS }, 'shutdown took too long; exiting');
        process.exit(1);
      }, SHUTDOWN_BOUND_MS);
      bound.unref();
      await starting.catch(() => undefined);
      // The gateway first (no new commands), then consumers in reverse start order.
      const order = [...running.filter((s) => s.name === 'gateway'), ...running.filter((s) => s.name !== 'gateway').reverse()];
      for (const service of order) {
        current = service.name;
        try {
          await service.stop();
        } catch (error) {
          logger.error({ err: error, service: service.name }, 'stop failed');
        }
      }
      current = 'the stores';
      await adapters?.close();
      logger.info('stopped');
    })());
  // `on`, not `once`: Ctrl-C under npm delivers SIGINT twice (the terminal's, then npm's
  // forwarded copy), and a second one must not kill the process halfway through its stop.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) logger.info({ signal }, 'already shutting down');
      void shutdown(signal).then(() => process.exit(0));
    });
  }

  const opening = openAdapters(config, `order-saga-${services.join('-')}`);
  starting = opening;
  adapters = await opening;
  const ctx = createContext(config, adapters, logger);

  // The gateway first: it answers (and takes commands, which the log keeps until the consumers
  // reach them) while the consumers start. Started after them, it waited for whatever backlog
  // they and the relay met at start: a log of 1M events re-published to a lost bus file held
  // the first /healthz back 145 s.
  const order = [...services.filter((n) => n === 'gateway'), ...services.filter((n) => n !== 'gateway')];
  for (const name of order) {
    if (stopping) return;
    const started = startService(name, ctx);
    starting = started;
    running.push(...(await started));
  }
  if (stopping) return;

  logger.info({ mode: config.mode, services, dataDir: config.mode === 'embedded' ? config.DATA_DIR : undefined }, 'started');
  console.log(banner(config, services));
}

/** What a person starting the system needs to know, once: where it answers and how to sign in. */
function banner(config: Config, services: ServiceName[]): string {
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  const url = `http://${host}:${config.PORT}`;
  const seeded = config.mode === 'embedded' && config.SEED_DEMO === 'true' && services.includes('gateway');
  const lines = [
    '',
    `  order saga system is running (${config.mode} mode); Ctrl-C stops it`,
    ...(services.includes('gateway') ? [`  url:       ${url}`, `  api:       ${url}/api/openapi.json`] : []),
    ...(config.mode === 'embedded' ? [`  data dir:  ${config.DATA_DIR}`] : []),
    `  services:  ${services.join(', ')}`,
    ...(seeded ? ['  demo users:', ...DEMO_USERS.map((u) => `    ${(u.role ?? 'customer').padEnd(9)}${u.email} / ${u.password}`)] : []),
    '',
  ];
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
