/**
 * The saga orchestrator alone in a process, on the embedded stack in DATA_DIR: used by the
 * crash and ownership tests, which SIGKILL it under load. Prints `ready` once it consumes.
 * With ORCHESTRATOR_KAFKA_BROKERS its bus is Kafka (client id SAGA_CLIENT_ID, group
 * SAGA_GROUP_ID, a new group starting at the latest offsets), the store and index still in DATA_DIR.
 */
import { loadConfig } from '@saga/platform/config';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { openKafkaMessageBus } from '@saga/platform/message-bus/kafka';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { startSagaRuntime } from './runtime';

async function main(): Promise<void> {
  const config = loadConfig();
  // Short leases let a restarted orchestrator take its partitions back soon after a kill.
  const leaseTtlMs = Number(process.env.SAGA_BUS_LEASE_TTL_MS ?? 5_000);
  const store = await openSqliteEventStore({ dataDir: config.DATA_DIR });
  const docs = await openSqliteDocumentStore({ dataDir: config.DATA_DIR });
  const kafkaBrokers = process.env.ORCHESTRATOR_KAFKA_BROKERS;
  const bus = kafkaBrokers
    ? await openKafkaMessageBus({ brokers: kafkaBrokers.split(','), clientId: process.env.SAGA_CLIENT_ID ?? `saga-${process.pid}`, log: () => undefined })
    : await openSqliteMessageBus({ dataDir: config.DATA_DIR, membership: { heartbeatMs: Math.max(50, leaseTtlMs / 5), leaseTtlMs } });
  const runtime = await startSagaRuntime({
    store,
    bus,
    docs,
    stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
    ...(process.env.SAGA_GROUP_ID ? { groupId: process.env.SAGA_GROUP_ID } : {}),
    ...(kafkaBrokers ? { startFrom: 'latest' as const } : {}),
    // The relay runs in the test's process under its default name (projections' relayCheckpointName('relay')).
    // On Kafka another process's checkpoint is not read fresh (app/services.ts), so timers wait for the bus only.
    ...(kafkaBrokers ? {} : { relayCheckpoint: process.env.SAGA_RELAY_CHECKPOINT ?? 'relay.relay' }),
    log: {
      // The ownership spec counts timers fired per process from these lines.
      info: process.env.SAGA_LOG_INFO === '1' ? (obj, msg) => console.log(JSON.stringify({ msg, ...obj })) : () => undefined,
      warn: (obj, msg) => console.warn(msg, JSON.stringify(obj)),
      error: (obj, msg) => console.error(msg, JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v))),
    },
  });
  console.log('ready');

  const shutdown = async () => {
    await runtime.stop();
    await bus.close();
    await docs.close();
    await store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
