/**
 * A publisher that dies holding an open transaction, for the checkpoint-read test (K5): commits
 * checkpoint `committed` through the bus, then opens a transaction of the same transactional id
 * with a checkpoint record in it, prints `open <offset of its record on the topic>`, and waits to
 * be SIGKILLed.
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { checkpointsTopic } from './kafka/checkpoints';
import { checkpointTransactionalId } from './kafka/producers';
import { openKafkaMessageBus } from './kafka';

const [brokers, clientId, topic] = process.argv.slice(2);
if (!brokers || !clientId || !topic) throw new Error('usage: kafka.publisher-process.ts <brokers> <clientId> <topic>');

const bus = await openKafkaMessageBus({ brokers: brokers.split(','), clientId });
await bus.publish(topic, [{ key: 'k', value: '"committed"' }], { checkpoint: { name: `cp.${clientId}`, value: 'committed' } });
await bus.close();

// The kafkajs default timeout: the coordinator would leave this transaction open for a minute.
const producer = new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING }).producer({
  transactionalId: checkpointTransactionalId(`cp.${clientId}`),
  idempotent: true,
  maxInFlightRequests: 1,
  transactionTimeout: 60_000,
  createPartitioner: Partitioners.DefaultPartitioner,
});
await producer.connect();
const transaction = await producer.transaction();
const sent = await transaction.sendBatch({
  acks: -1,
  topicMessages: [
    { topic, messages: [{ key: 'k', value: '"uncommitted"' }] },
    { topic: checkpointsTopic, messages: [{ key: `cp.${clientId}`, value: 'uncommitted' }] },
  ],
});
process.stdout.write(`open ${sent.find((r) => r.topicName === topic)!.baseOffset}\n`);
setInterval(() => {}, 60_000);
