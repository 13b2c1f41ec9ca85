import {
  Kafka,
  logLevel,
  Partitioners,
  type Consumer as KafkaConsumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type Message,
  type Producer,
} from 'kafkajs';
import { deadLetterTopic } from '@saga/event-schemas/streams';
import { IllegalStateError } from '../errors';
import { newId } from '../ids';
import { backoffMs, deadLetterMessage, Interrupt, resolveRetryPolicy, validateConsumerOptions } from './delivery';
import type {
  BusMessage,
  Consumer,
  ConsumerOptions,
  MessageBus,
  OutgoingMessage,
  PartitionLag,
  PublishCheckpoint,
  RetryPolicy,
  TopicMessages,
  TopicSpec,
} from './port';

/**
 * The message bus on Kafka (kafkajs).
 *
 * - Producers are idempotent and use the Java-compatible `DefaultPartitioner` (murmur2), the
 *   same function the embedded log uses, so a key maps to the same partition in both modes.
 * - A publish with a checkpoint goes through a transactional producer: the messages and the
 *   checkpoint (a record keyed by its name in the compacted topic `__checkpoints`) commit
 *   together. Its transactional id is `<clientId>.publisher`: one such publisher per client id
 *   (a second one fences the first, which is what keeps a zombie relay from publishing).
 * - A topic this bus publishes to or subscribes to that does not exist is created with
 *   `defaultPartitions`, as on the embedded log.
 * - Consumers commit `offset + 1` themselves after the handler succeeds (autoCommit off). A
 *   poison message is produced to `<topic>.dlq` and then committed past; a crash between the
 *   two can dead-letter it twice, never lose it.
 */
export interface KafkaMessageBusOptions {
  brokers: string[];
  clientId: string;
  /** Partitions of topics created on first use. Default 4. */
  defaultPartitions?: number;
  /** Replication factor of topics this bus creates. Default: the broker's default. */
  replicationFactor?: number;
}

export const checkpointsTopic = '__checkpoints';

export async function openKafkaMessageBus(options: KafkaMessageBusOptions): Promise<MessageBus> {
  const kafka = new Kafka({ clientId: options.clientId, brokers: options.brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const bus = new KafkaMessageBus(kafka, admin, producer, options);
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic: checkpointsTopic,
        numPartitions: 1,
        ...(options.replicationFactor ? { replicationFactor: options.replicationFactor } : {}),
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
  });
  return bus;
}

type Admin = ReturnType<Kafka['admin']>;

class KafkaMessageBus implements MessageBus {
  private readonly knownTopics = new Set<string>([checkpointsTopic]);
  private readonly checkpoints = new Map<string, string>();
  private readonly consumers = new Set<KafkaBusConsumer>();
  private transactional: Producer | undefined;
  /** A producer runs one transaction at a time: publishes with a checkpoint queue here. */
  private transactionQueue: Promise<unknown> = Promise.resolve();
  readonly defaultPartitions: number;

  constructor(
    readonly kafka: Kafka,
    readonly admin: Admin,
    readonly producer: Producer,
    private readonly options: KafkaMessageBusOptions,
  ) {
    this.defaultPartitions = options.defaultPartitions ?? 4;
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    const missing = topics.filter((t) => !this.knownTopics.has(t.name));
    if (missing.length === 0) return;
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        ...(this.options.replicationFactor ? { replicationFactor: this.options.replicationFactor } : {}),
      })),
    });
    for (const t of missing) this.knownTopics.add(t.name);
  }

  async ensureTopics(names: string[], partitions = this.defaultPartitions): Promise<void> {
    await this.createTopics(names.map((name) => ({ name, partitions })));
  }

  async publish(topic: string, messages: OutgoingMessage[], options?: { checkpoint?: PublishCheckpoint }): Promise<void> {
    await this.publishMany([{ topic, messages }], options);
  }

  async publishMany(batches: TopicMessages[], options?: { checkpoint?: PublishCheckpoint }): Promise<void> {
    const topicMessages = batches.filter((b) => b.messages.length > 0).map((b) => ({ topic: b.topic, messages: b.messages.map(toKafka) }));
    await this.ensureTopics(topicMessages.map((t) => t.topic));
    const checkpoint = options?.checkpoint;
    if (!checkpoint) {
      if (topicMessages.length > 0) await this.producer.sendBatch({ topicMessages, acks: -1 });
      return;
    }
    const run = this.transactionQueue.then(async () => {
      const producer = await this.transactionalProducer();
      const transaction = await producer.transaction();
      try {
        await transaction.sendBatch({
          acks: -1,
          topicMessages: [...topicMessages, { topic: checkpointsTopic, messages: [{ key: checkpoint.name, value: checkpoint.value }] }],
        });
        await transaction.commit();
      } catch (error) {
        await transaction.abort().catch(() => undefined); // the original error says more than a failed abort
        throw error;
      }
      this.checkpoints.set(checkpoint.name, checkpoint.value);
    });
    this.transactionQueue = run.catch(() => undefined);
    await run;
  }

  private async transactionalProducer(): Promise<Producer> {
    if (!this.transactional) {
      const producer = this.kafka.producer({
        transactionalId: `${this.options.clientId}.publisher`,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      this.transactional = producer;
    }
    return this.transactional;
  }

  /** Reads the compacted checkpoint topic to its end (read-committed) and keeps the name's last value. */
  async readCheckpoint(name: string): Promise<string | undefined> {
    const cached = this.checkpoints.get(name);
    if (cached !== undefined) return cached;
    const ends = await this.admin.fetchTopicOffsets(checkpointsTopic);
    const pending = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]));
    if (pending.size === 0) return undefined;

    const groupId = `${this.options.clientId}.checkpoint-reader.${newId()}`;
    const reader = this.kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
    let value: string | undefined;
    try {
      await reader.connect();
      await reader.subscribe({ topics: [checkpointsTopic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out reading ${checkpointsTopic}`)), 30_000);
        // Fired for every fetched batch, including those holding only transaction markers.
        reader.on(reader.events.END_BATCH_PROCESS, ({ payload }) => {
          const target = pending.get(payload.partition);
          if (target !== undefined && BigInt(payload.lastOffset) >= target) pending.delete(payload.partition);
          if (pending.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
        reader
          .run({
            eachMessage: async ({ message }) => {
              if (message.key?.toString() === name) value = message.value?.toString();
            },
          })
          .catch(reject);
      });
    } finally {
      await reader.disconnect();
      await this.admin.deleteGroups([groupId]).catch(() => undefined); // only tidiness: an empty group expires anyway
    }
    if (value !== undefined) this.checkpoints.set(name, value);
    return value;
  }

  async consume(options: ConsumerOptions): Promise<Consumer> {
    validateConsumerOptions(options);
    await this.ensureTopics(options.topics);
    const consumer = new KafkaBusConsumer(this, options, resolveRetryPolicy(options.retry));
    await consumer.start();
    this.consumers.add(consumer);
    return {
      stop: async () => {
        await consumer.stop();
        this.consumers.delete(consumer);
      },
    };
  }

  async resetOffsets(groupId: string, topic: string, to: 'earliest' | 'latest'): Promise<void> {
    const { groups } = await this.admin.describeGroups([groupId]);
    const group = groups[0];
    if (group && group.members.length > 0) {
      throw new IllegalStateError(`group ${groupId} has running members (${group.state}); stop them before resetting offsets`);
    }
    await this.ensureTopics([topic]);
    await this.admin.resetOffsets({ groupId, topic, earliest: to === 'earliest' });
  }

  async lag(groupId: string): Promise<PartitionLag[]> {
    const committedTopics = (await this.admin.fetchOffsets({ groupId })).map((t) => t.topic);
    if (committedTopics.length === 0) return [];
    // Asked by name, the broker answers for every partition, committed or not (-1).
    const offsets = await this.admin.fetchOffsets({ groupId, topics: committedTopics });
    const result: PartitionLag[] = [];
    for (const { topic, partitions } of offsets) {
      const ends = new Map((await this.admin.fetchTopicOffsets(topic)).map((e) => [e.partition, e]));
      for (const p of partitions) {
        const end = ends.get(p.partition);
        const high = Number(end?.high ?? 0);
        const committed = Number(p.offset) < 0 ? Number(end?.low ?? 0) : Number(p.offset);
        result.push({ topic, partition: p.partition, committed, end: high, lag: Math.max(0, high - committed) });
      }
    }
    return result.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.consumers.clear();
    await this.transactionQueue;
    await this.transactional?.disconnect();
    await this.producer.disconnect();
    await this.admin.disconnect();
  }

  /** Produces a dead letter to `<topic>.dlq`, created with the source topic's partition count. */
  async deadLetter(topic: string, message: OutgoingMessage): Promise<void> {
    const dlq = deadLetterTopic(topic);
    if (!this.knownTopics.has(dlq)) {
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
      await this.ensureTopics([dlq], topics[0]?.partitions.length ?? this.defaultPartitions);
    }
    await this.producer.send({ topic: dlq, acks: -1, messages: [toKafka(message)] });
  }
}

type Outcome = 'handled' | 'dead-lettered' | 'interrupted';

class KafkaBusConsumer {
  private readonly consumer: KafkaConsumer;
  private readonly interrupt = new Interrupt();
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly bus: KafkaMessageBus,
    private readonly options: ConsumerOptions,
    private readonly policy: RetryPolicy,
  ) {
    this.consumer = bus.kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.startFrom !== 'latest' });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, resolveOffset, heartbeat } = payload;
    const leaving = () => this.interrupt.fired || !isRunning() || isStale();
    const messages = batch.messages.map((m) => toBusMessage(batch.topic, batch.partition, m));
    const size = this.options.maxBatchSize ?? 256;
    for (let i = 0; i < messages.length && !leaving(); i += size) {
      const chunk = messages.slice(i, i + size);
      const next = await this.deliver(chunk, leaving, heartbeat);
      if (next === undefined) return;
      resolveOffset(String(next - 1));
      await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(next) }]);
      await heartbeat();
    }
  }

  /** Returns the offset after the last message handled or dead-lettered, if any. */
  private async deliver(messages: BusMessage[], leaving: () => boolean, heartbeat: () => Promise<void>): Promise<number | undefined> {
    const { batchHandler, handler } = this.options;
    if (batchHandler) {
      try {
        await batchHandler(messages);
        return messages[messages.length - 1]!.offset + 1;
      } catch {
        // The batch failed as a whole; find the culprit by retrying message by message below.
      }
    }
    const one = handler ?? ((m: BusMessage) => batchHandler!([m]));
    let next: number | undefined;
    for (const message of messages) {
      if (leaving()) break;
      const outcome = await this.handle(message, one, heartbeat);
      if (outcome === 'interrupted') break;
      next = message.offset + 1;
    }
    return next;
  }

  private async handle(message: BusMessage, one: (m: BusMessage) => Promise<void>, heartbeat: () => Promise<void>): Promise<Outcome> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.policy.maxAttempts; attempt++) {
      try {
        await one(message);
        return 'handled';
      } catch (error) {
        lastError = error;
        if (attempt < this.policy.maxAttempts) {
          if (!(await this.interrupt.sleep(backoffMs(attempt, this.policy)))) return 'interrupted';
          await heartbeat(); // a long backoff must not get this member evicted
        }
      }
    }
    await this.bus.deadLetter(message.topic, deadLetterMessage(message, lastError, this.policy.maxAttempts, Date.now()));
    return 'dead-lettered';
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.interrupt.fire();
      await this.consumer.stop();
      await this.consumer.disconnect();
    })();
    return this.stopped;
  }
}

function toKafka(message: OutgoingMessage): Message {
  return { key: message.key, value: message.value, ...(message.headers ? { headers: message.headers } : {}) };
}

function toBusMessage(topic: string, partition: number, m: KafkaMessage): BusMessage {
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key?.toString() ?? '',
    value: m.value?.toString() ?? '',
    headers: headersOf(m.headers),
    timestamp: Number(m.timestamp),
  };
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = (Array.isArray(value) ? value[value.length - 1] : value)?.toString() ?? '';
  }
  return out;
}
