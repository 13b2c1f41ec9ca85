/**
 * A relay in a process of its own, for the tests that kill it mid-stream or run several at once.
 * Usage: relay.process.ts <dataDir> [kafkaBrokers|-] [relayName] [maxBatchSize]. Without brokers it
 * uses the embedded bus in dataDir. Prints `active` or `standby` whenever its lease changes hands.
 */
import { randomUUID } from 'node:crypto';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openKafkaMessageBus } from '@saga/platform/message-bus/kafka';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { startRelay } from './relay';

const [dataDir, brokers = '-', name = 'relay', batch = '5'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: relay.process.ts <dataDir> [kafkaBrokers|-] [relayName] [maxBatchSize]');
const store = await openSqliteEventStore({ dataDir });
const bus =
  brokers === '-'
    ? await openSqliteMessageBus({ dataDir })
    : await openKafkaMessageBus({ brokers: brokers.split(','), clientId: `relay-process-${randomUUID().slice(0, 8)}`, defaultPartitions: 2, log: () => {} });
const relay = await startRelay({ store, bus, name, maxBatchSize: Number(batch) });
let told: boolean | undefined;
setInterval(() => {
  if (relay.active === told) return;
  told = relay.active;
  process.stdout.write(`${told ? 'active' : 'standby'}\n`);
}, 50);
