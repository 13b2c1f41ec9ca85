/**
 * The payment service alone in a process, on the embedded stack in DATA_DIR, with the simulated
 * provider's books and the open attempts there too: used by the crash test, which SIGKILLs it
 * while a charge is with the provider. Prints `ready` once it consumes.
 */
import { loadConfig } from '@saga/platform/config';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { composeServices } from '../../../app/compose';

const config = loadConfig();
// Short leases let a restarted service take its partitions back soon after a kill.
const leaseTtlMs = Number(process.env.PAYMENT_BUS_LEASE_TTL_MS ?? 5_000);
const store = await openSqliteEventStore({ dataDir: config.DATA_DIR });
const bus = await openSqliteMessageBus({ dataDir: config.DATA_DIR, membership: { heartbeatMs: Math.max(50, leaseTtlMs / 5), leaseTtlMs } });
// Wired as the app wires it: the provider's books and the open attempts in DATA_DIR.
const services = composeServices(
  { store, bus },
  {
    stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
    dataDir: config.DATA_DIR,
    logger: () => (level, message, fields) => {
      if (level !== 'info') console.error(message, JSON.stringify(fields ?? {}));
    },
  },
);
const consumer = await services.consumers.payment();
console.log('ready');

const shutdown = async () => {
  await consumer.stop();
  await bus.close();
  await store.close();
  services.close();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
