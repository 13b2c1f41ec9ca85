// One projector replica in its own OS process: applies one stream kind's events to a shared read model.
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { createProjectorRunner } from './runner';
import { replicaEvents } from './replicas.fixture';
import { statsProjection } from './stats';

const [dataDir, kind, orders, mongoUrl, dbName] = process.argv.slice(2);
const store: DocumentStore = mongoUrl
  ? await (await import('@saga/platform/document-store/mongo')).openMongoDocumentStore({ url: mongoUrl, dbName: dbName! })
  : await openSqliteDocumentStore({ dataDir: dataDir! });
const runner = createProjectorRunner({ bus: {} as MessageBus, store, projection: statsProjection });
const events = replicaEvents(Number(orders))[kind as 'order' | 'payment'];
process.stdout.write('ready\n');
// Both replicas start applying together: each waits for the parent's go once both are ready.
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.pause();
for (let i = 0; i < events.length; i += 7) await runner.applyBatch(events.slice(i, i + 7));
await store.close();
process.stdout.write('done\n');
