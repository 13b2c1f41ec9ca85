import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';

/**
 * Where a rebuild worker finds the stores: plain data (it crosses to the worker thread), the
 * same choice `openAdapters` makes from the configuration. The worker opens its own
 * connections: a connection is never shared between threads.
 */
export interface StoreLocation {
  dataDir: string;
  eventStoreUrl?: string;
  mongoUrl?: string;
  mongoDb?: string;
}

export function storeLocationOf(config: { DATA_DIR: string; EVENTSTORE_URL?: string | undefined; MONGODB_URL?: string | undefined; MONGODB_DB: string }): StoreLocation {
  return {
    dataDir: config.DATA_DIR,
    ...(config.EVENTSTORE_URL ? { eventStoreUrl: config.EVENTSTORE_URL } : {}),
    ...(config.MONGODB_URL ? { mongoUrl: config.MONGODB_URL, mongoDb: config.MONGODB_DB } : {}),
  };
}

export async function openEventStoreAt(at: StoreLocation): Promise<EventStore> {
  return at.eventStoreUrl
    ? (await import('@saga/platform/event-store/esdb')).openEsdbEventStore({ url: at.eventStoreUrl })
    : (await import('@saga/platform/event-store/sqlite')).openSqliteEventStore({ dataDir: at.dataDir });
}

export async function openDocumentStoreAt(at: StoreLocation): Promise<DocumentStore> {
  return at.mongoUrl
    ? (await import('@saga/platform/document-store/mongo')).openMongoDocumentStore({ url: at.mongoUrl, dbName: at.mongoDb ?? 'order_saga' })
    : (await import('@saga/platform/document-store/sqlite')).openSqliteDocumentStore({ dataDir: at.dataDir });
}
