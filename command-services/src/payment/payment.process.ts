/**
 * The payment service alone in a process, on the embedded stack in DATA_DIR, with the simulated
 * provider's books and the open attempts there too: used by the crash test, which SIGKILLs it
 * while a charge is with the provider. Prints `ready` once it consumes.
 */
import { loadConfig } from '@saga/platform/config';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { startPaymentConsumer } from './consumer';
import { createPaymentHandlers } from './handlers';
import { openAttemptIndex } from './open-attempts';
import { createSimulatedGateway } from './simulated-gateway';

const config = loadConfig();
// Short leases let a restarted service take its partitions back soon after a kill.
const leaseTtlMs = Number(process.env.PAYMENT_BUS_LEASE_TTL_MS ?? 5_000);
const store = await openSqliteEventStore({ dataDir: config.DATA_DIR });
const bus = await openSqliteMessageBus({ dataDir: config.DATA_DIR, membership: { heartbeatMs: Math.max(50, leaseTtlMs / 5), leaseTtlMs } });
const gateway = createSimulatedGateway({ stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS, dataDir: config.DATA_DIR });
const attempts = openAttemptIndex(config.DATA_DIR);
const handlers = createPaymentHandlers({ store, gateway, attempts, clock: () => new Date() });
const consumer = await startPaymentConsumer({
  bus,
  handlers,
  logger: (level, message, fields) => {
    if (level !== 'info') console.error(message, JSON.stringify(fields ?? {}));
  },
});
console.log('ready');

const shutdown = async () => {
  await consumer.stop();
  await bus.close();
  await store.close();
  attempts.closeIndex();
  gateway.close();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
