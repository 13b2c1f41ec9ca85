/**
 * `npm start`: the whole system in one process on the embedded default (SQLite under
 * DATA_DIR), or the services named in SERVICES against the servers the environment names.
 * SIGINT/SIGTERM stop it cleanly: HTTP first, then consumers, then the stores.
 */
import { DEMO_USERS } from '@saga/command-services/seed';
import { loadConfig, type Config } from '@saga/platform/config';
import { createLogger } from '@saga/platform/logging';
import { openAdapters } from '@saga/platform/adapters';
import { createContext, serviceNames, startService, type ServiceName, type Stoppable } from './services';

function chosenServices(value: string | undefined): ServiceName[] {
  if (!value || value === 'all') return [...serviceNames];
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(serviceNames as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`SERVICES: unknown ${unknown.join(', ')}; choose from ${serviceNames.join(', ')} or all`);
  // Start in dependency order whatever order they were listed in.
  return serviceNames.filter((n) => names.includes(n));
}

async function main(): Promise<void> {
  const config = loadConfig();
  const services = chosenServices(process.env.SERVICES);
  const logger = createLogger({ name: 'order-saga', level: config.LOG_LEVEL });
  const adapters = await openAdapters(config, `order-saga-${services.join('-')}`);
  const ctx = createContext(config, adapters, logger);
  const running: Stoppable[] = [];

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down');
      // The gateway first (no new commands), then consumers in reverse start order.
      const order = [...running.filter((s) => s.name === 'gateway'), ...running.filter((s) => s.name !== 'gateway').reverse()];
      for (const service of order) {
        try {
          await service.stop();
        } catch (error) {
          logger.error({ err: error, service: service.name }, 'stop failed');
        }
      }
      await adapters.close();
      logger.info('stopped');
    })());
  process.once('SIGINT', () => void shutdown('SIGINT').then(() => process.exit(0)));
  process.once('SIGTERM', () => void shutdown('SIGTERM').then(() => process.exit(0)));

  // Consumers before the gateway, so the system is whole once it answers.
  for (const name of services.filter((n) => n !== 'gateway')) running.push(...(await startService(name, ctx)));
  if (services.includes('gateway')) running.push(...(await startService('gateway', ctx)));

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
