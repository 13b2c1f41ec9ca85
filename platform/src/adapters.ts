/**
 * Picks each port's adapter from the configuration: a server URL selects the real adapter,
 * its absence the embedded one. Nothing above this file knows which it holds.
 */
import { mkdirSync } from 'node:fs';
import { categories, commandTopics, eventTopic } from '@saga/event-schemas/streams';
import type { Config } from './config';
import type { EventStore } from './event-store/port';
import type { MessageBus } from './message-bus/port';
import type { DocumentStore } from './document-store/port';

export interface Adapters {
  store: EventStore;
  bus: MessageBus;
  docs: DocumentStore;
  close(): Promise<void>;
}

export async function openAdapters(config: Config, clientId: string): Promise<Adapters> {
  if (!config.EVENTSTORE_URL || !config.KAFKA_BROKERS || !config.MONGODB_URL) {
    mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 });
  }
  const store = config.EVENTSTORE_URL
    ? await (await import('./event-store/esdb')).openEsdbEventStore({ url: config.EVENTSTORE_URL })
    : await (await import('./event-store/sqlite')).openSqliteEventStore({ dataDir: config.DATA_DIR });
  const bus = config.KAFKA_BROKERS
    ? await (await import('./message-bus/kafka')).openKafkaMessageBus({
        brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()),
        clientId,
        defaultPartitions: config.BUS_PARTITIONS,
      })
    : await (await import('./message-bus/sqlite')).openSqliteMessageBus({
        dataDir: config.DATA_DIR,
        defaultPartitions: config.BUS_PARTITIONS,
      });
  // Every topic the system knows, created here, by whichever service opens first and before any
  // consumer starts, all with BUS_PARTITIONS: a partition count never depends on start order (K7).
  await bus.createTopics([...categories.map(eventTopic), ...Object.values(commandTopics)].map((name) => ({ name })));
  const docs = config.MONGODB_URL
    ? await (await import('./document-store/mongo')).openMongoDocumentStore({
        url: config.MONGODB_URL,
        dbName: config.MONGODB_DB,
      })
    : await (await import('./document-store/sqlite')).openSqliteDocumentStore({ dataDir: config.DATA_DIR });
  return {
    store,
    bus,
    docs,
    async close() {
      await Promise.allSettled([docs.close(), bus.close(), store.close()]);
    },
  };
}
