// One projector replica in its own OS process, in one of two modes:
// - `<dataDir> order|payment <orders> [mongoUrl dbName]`: applies one stream kind's events to a shared read model;
// - `<dataDir> projector <name,...>`: runs the named projectors on the embedded bus of dataDir as the
//   projector service does, until its stdin closes (a rebuild in another process hands over through the bus).
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { projectionNamed } from './registry';
import { createProjectorRunner } from './runner';
import { replicaEvents } from './replicas.fixture';
import { statsProjection } from './stats';

const [dataDir, kind, arg, mongoUrl, dbName] = process.argv.slice(2);
const store: DocumentStore = mongoUrl
  ? await (await import('@saga/platform/document-store/mongo')).openMongoDocumentStore({ url: mongoUrl, dbName: dbName! })
  : await openSqliteDocumentStore({ dataDir: dataDir! });

if (kind === 'projector') {
  const bus = await openSqliteMessageBus({ dataDir: dataDir! });
  const runners = arg!.split(',').map((name) => createProjectorRunner({ bus, store, projection: projectionNamed(name)!, onError: (e) => process.stderr.write(`projector: ${String(e)}\n`) }));
  for (const runner of runners) await runner.start();
  process.stdout.write(`ready ${runners.map((r) => r.status().replica).join(' ')}\n`);
  await new Promise<void>((resolve) => process.stdin.on('end', () => resolve()).resume());
  for (const runner of runners) await runner.stop();
  await bus.close();
  await store.close();
  process.stdout.write('done\n');
} else {
  const runner = createProjectorRunner({ bus: {} as MessageBus, store, projection: statsProjection });
  const events = replicaEvents(Number(arg))[kind as 'order' | 'payment'];
  process.stdout.write('ready\n');
  // Both replicas start applying together: each waits for the parent's go once both are ready.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.pause();
  for (let i = 0; i < events.length; i += 7) await runner.applyBatch(events.slice(i, i + 7));
  await store.close();
  process.stdout.write('done\n');
}
