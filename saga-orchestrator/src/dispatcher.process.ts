/**
 * The saga's command dispatcher alone in a process, for the test that runs several and SIGKILLs
 * the active one. Usage: dispatcher.process.ts <dataDir> <kafkaBrokers|-> <checkpoint>. Prints
 * `active` or `standby` whenever its lease changes hands.
 */
import { randomUUID } from 'node:crypto';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openKafkaMessageBus } from '@saga/platform/message-bus/kafka';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { startCommandDispatcher } from './dispatcher';

const [dataDir, brokers = '-', checkpoint] = process.argv.slice(2);
if (!dataDir || !checkpoint) throw new Error('usage: dispatcher.process.ts <dataDir> <kafkaBrokers|-> <checkpoint>');
const store = await openSqliteEventStore({ dataDir });
const bus =
  brokers === '-'
    ? await openSqliteMessageBus({ dataDir })
    : await openKafkaMessageBus({ brokers: brokers.split(','), clientId: `dispatcher-process-${randomUUID().slice(0, 8)}`, defaultPartitions: 2, log: () => {} });
const log = { info: () => undefined, warn: (obj: object, msg?: string) => console.warn(msg, JSON.stringify(obj)), error: (obj: object, msg?: string) => console.error(msg, JSON.stringify(obj)) };
const dispatcher = await startCommandDispatcher({ store, bus, log, checkpoint, maxBatchSize: 5 });
let told: boolean | undefined;
setInterval(() => {
  if (dispatcher.active === told) return;
  told = dispatcher.active;
  process.stdout.write(`${told ? 'active' : 'standby'}\n`);
}, 50);
