import { spawn } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { messageBusContract, until } from './contract';
import { openKafkaMessageBus } from './kafka';
import { checkpointsTopic } from './kafka/checkpoints';
import { checkpointTransactionalId } from './kafka/producers';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) console.warn('kafka.int.spec.ts: skipped, KAFKA_BROKERS is not set (start a broker with `.ci/servers.sh start kafka`)');
const brokerList = (brokers ?? '').split(',').map((b) => b.trim());

describe.skipIf(!brokers)('kafka message bus', () => {
  messageBusContract('kafka', () => openKafkaMessageBus({ brokers: brokerList, clientId: `contract-${process.pid}-${randomUUID().slice(0, 8)}` }));

  it('reads its checkpoint within 5 s after its predecessor was SIGKILLed holding an open transaction (K5)', async () => {
    const clientId = `crashed-${randomUUID().slice(0, 8)}`;
    const topic = `crash-${randomUUID().slice(0, 8)}`;
    const setup = await openKafkaMessageBus({ brokers: brokerList, clientId: `${clientId}-setup` });
    await setup.createTopics([{ name: topic, partitions: 1 }]);
    await setup.close();

    const script = path.join(import.meta.dirname, 'kafka.publisher-process.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, brokerList.join(','), clientId, topic], { stdio: ['ignore', 'pipe', 'inherit'] });
    // The offset of the open transaction's record on the topic.
    let open: bigint | undefined;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const match = /open (\d+)/.exec(chunk);
      if (match) open = BigInt(match[1]!);
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await until(() => open !== undefined, 'the publisher to open its transaction', 45_000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }

    const restarted = await openKafkaMessageBus({ brokers: brokerList, clientId });
    const admin = new Kafka({ clientId: `${clientId}-admin`, brokers: brokerList, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const started = Date.now();
      const value = await restarted.readCheckpoint(`cp.${clientId}`, { owner: true });
      const tookMs = Date.now() - started;
      console.log(`kafka.int.spec.ts: checkpoint read after the publisher's SIGKILL took ${tookMs} ms`);
      expect(value).toBe('committed');
      expect(tookMs).toBeLessThan(5_000);
      // The read fenced the dead publisher and settled its transaction (aborted it), rather than
      // leaving it open for its minute: read_committed readers of the topic (its last stable
      // offset) are already past the open record, and so are those of the checkpoint topic.
      const [end] = await admin.fetchTopicOffsets(topic);
      expect(BigInt(end!.offset)).toBeGreaterThan(open!);
    } finally {
      await admin.disconnect();
      await restarted.close();
    }
  });

  // A checkpoint committed while another checkpoint's writer holds a transaction open on the same partition of the
  // checkpoint topic is past the topic's last stable offset until that transaction ends: a restarted publisher that read
  // only up to there would take an older checkpoint and publish a batch again.
  it('reads a checkpoint committed after another writer opened a transaction, once that transaction settles', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `behind-${id}`;
    const bus = await openKafkaMessageBus({ brokers: brokerList, clientId: `behind-${id}` });
    const other = new Kafka({ clientId: `other-${id}`, brokers: brokerList, logLevel: logLevel.NOTHING }).producer({
      transactionalId: checkpointTransactionalId(`other-${id}`),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const restarted = await openKafkaMessageBus({ brokers: brokerList, clientId: `behind-${id}` });
    try {
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, [{ key: 'k', value: '1' }], { checkpoint: { name: `cp-${id}`, value: 'first' } });
      await other.connect();
      const open = await other.transaction();
      await open.sendBatch({ acks: -1, topicMessages: [{ topic: checkpointsTopic, messages: [{ key: `other-${id}`, value: 'open' }] }] });
      await bus.publish(topic, [{ key: 'k', value: '2' }], { checkpoint: { name: `cp-${id}`, value: 'second' } });
      await bus.close();

      const started = Date.now();
      const read = restarted.readCheckpoint(`cp-${id}`, { owner: true });
      await new Promise((r) => setTimeout(r, 1_000));
      await open.abort();
      expect(await read).toBe('second');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    } finally {
      await other.disconnect();
      await restarted.close();
    }
  });

  // A projector's batch of 500 on a slow read-model server (FerretDB, 12 processes on 2 cores) took longer than the
  // session: the member was taken for dead, its commit refused, the batch handed out again, and again (the scale
  // spec's projectors stood thousands of messages behind for good).
  it('keeps a member whose batch handler runs longer than its session: no eviction, every message handled once (K9)', async () => {
    const topic = `slow-${randomUUID().slice(0, 8)}`;
    const groupId = `slow-${randomUUID().slice(0, 8)}`;
    const bus = await openKafkaMessageBus({ brokers: brokerList, clientId: `slow-${randomUUID().slice(0, 8)}`, log: () => {} });
    const seen: number[] = [];
    let consumer: Awaited<ReturnType<typeof bus.consume>> | undefined;
    try {
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, Array.from({ length: 30 }, (_, i) => ({ key: 'k', value: String(i) })));
      let calls = 0;
      consumer = await bus.consume({
        groupId,
        topics: [topic],
        sessionTimeoutMs: 6_000, // the broker's least (group.min.session.timeout.ms)
        maxBatchSize: 10,
        batchHandler: async (messages) => {
          calls++;
          for (const m of messages) seen.push(Number(m.value));
          if (calls === 1) await new Promise((r) => setTimeout(r, 9_000));
        },
      });
      await until(() => seen.length >= 30, 'every message handled', 40_000);
      await until(async () => (await bus.lag(groupId)).every((p) => p.lag === 0), 'the group to commit to the end', 20_000);
      // Redelivered messages would come in after a while: give them the time a rejoin takes.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i));
    } finally {
      await consumer?.stop();
      await bus.close();
    }
  }, 90_000);
});
