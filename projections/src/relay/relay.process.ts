/** A relay in a process of its own, for the test that kills it mid-stream. Publishes slowly on purpose. */
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { startRelay } from './relay';

const [dataDir] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: relay.process.ts <dataDir>');
const store = await openSqliteEventStore({ dataDir });
const bus = await openSqliteMessageBus({ dataDir });
await startRelay({ store, bus, maxBatchSize: 5 });
