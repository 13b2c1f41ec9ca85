import { describe } from 'vitest';
import { messageBusContract } from './contract';
import { openKafkaMessageBus } from './kafka';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) console.warn('kafka.int.spec.ts: skipped, KAFKA_BROKERS is not set (e.g. KAFKA_BROKERS=localhost:9092 with docker compose up kafka)');

describe.skipIf(!brokers)('kafka message bus', () => {
  messageBusContract('kafka', () =>
    openKafkaMessageBus({ brokers: (brokers ?? '').split(',').map((b) => b.trim()), clientId: `contract-${process.pid}-${Date.now()}` }),
  );
});
