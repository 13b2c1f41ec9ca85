import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { deadLetterTopic } from '@saga/event-schemas/streams';
import { IllegalStateError } from '../errors';
import { resolveRetryPolicy, validateConsumerOptions } from './delivery';
import { checkpointsTopic, readCheckpointTopic, topicOffsets } from './kafka/checkpoints';
import { KafkaBusConsumer, type ConsumerBus } from './kafka/consumer';
import { checkpointTransactionalId, PlainProducer, toKafka, TransactionalPublisher } from './kafka/producers';
import type {
  Consumer,
  ConsumerOptions,
  MessageBus,
  OutgoingMessage,
  PartitionLag,
  PublishCheckpoint,
  ReadCheckpointOptions,
  TopicMessages,
  TopicSpec,
} from './port';

/**
 * The message bus on Kafka (kafkajs). One module per concern under `kafka/`: the producers and
 * how they are rebuilt (`producers`), the consumer (`consumer`, delivering through the loop both
 * buses share), the checkpoint topic (`checkpoints`).
 *
 * - Producers are idempotent and use the Java-compatible `DefaultPartitioner` (murmur2), the
 *   same function the embedded log uses, so a key maps to the same partition in both modes.
 * - A publish with a checkpoint goes through a transactional producer: the messages and the
 *   checkpoint (a record keyed by its name in the compacted topic `saga.checkpoints`) commit
 *   together. Its transactional id is the checkpoint's (`checkpointTransactionalId`), not the
 *   process's: a checkpoint has one writer at a time (the log follower holds a lease), and
 *   whichever replica takes it over fences exactly the previous writer, its own zombie after a
 *   restart included, and settles that writer's open transaction before reading on (K2, K5).
 *   Replicas that do not hold the checkpoint never open its producer, so they fence nobody.
 * - A topic created without a partition count, or published to or subscribed to before it
 *   exists, gets `defaultPartitions` (`BUS_PARTITIONS`), as on the embedded log.
 * - Consumers commit after the handler succeeds. A poison message is produced to `<topic>.dlq`
 *   and then committed past; a crash between the two can dead-letter it twice, never lose it.
 */
export interface KafkaMessageBusOptions {
  brokers: string[];
  clientId: string;
  /** Partitions of topics created without a count or on first use. Default 4. */
  defaultPartitions?: number;
  /** Replication factor of topics this bus creates. Default: the broker's default. */
  replicationFactor?: number;
  /** Where outages the bus waits out are reported (default: console.error). */
  log?: (msg: string, extra?: object) => void;
}

export async function openKafkaMessageBus(options: KafkaMessageBusOptions): Promise<MessageBus> {
  const kafka = new Kafka({ clientId: options.clientId, brokers: options.brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  const producer = new PlainProducer(kafka);
  await producer.connect();
  const bus = new KafkaMessageBus(kafka, admin, producer, options);
  await bus.createTopicsAndWait([
    {
      topic: checkpointsTopic,
      numPartitions: 1,
      ...(options.replicationFactor ? { replicationFactor: options.replicationFactor } : {}),
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    },
  ]);
  return bus;
}

type Admin = ReturnType<Kafka['admin']>;

class KafkaMessageBus implements MessageBus, ConsumerBus {
  private readonly knownTopics = new Set<string>([checkpointsTopic]);
  /** Checkpoints this process wrote or read as their owner; dropped when a transaction's outcome is unknown. */
  private readonly checkpoints = new Map<string, string>();
  private readonly consumers = new Set<KafkaBusConsumer>();
  /** One transactional producer per checkpoint this process publishes. */
  private readonly publishers = new Map<string, TransactionalPublisher>();
  readonly defaultPartitions: number;
  readonly report: (msg: string, extra?: object) => void;

  constructor(
    readonly kafka: Kafka,
    readonly admin: Admin,
    private readonly producer: PlainProducer,
    private readonly options: KafkaMessageBusOptions,
  ) {
    this.defaultPartitions = options.defaultPartitions ?? 4;
    this.report = options.log ?? ((msg, extra) => console.error(msg, extra ?? ''));
  }

  private publisherOf(checkpoint: string): TransactionalPublisher {
    let publisher = this.publishers.get(checkpoint);
    if (!publisher) this.publishers.set(checkpoint, (publisher = new TransactionalPublisher(this.kafka, checkpointTransactionalId(checkpoint))));
    return publisher;
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    const missing = topics.filter((t) => !this.knownTopics.has(t.name));
    if (missing.length === 0) return;
    await this.createTopicsAndWait(
      missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions ?? this.defaultPartitions,
        ...(this.options.replicationFactor ? { replicationFactor: this.options.replicationFactor } : {}),
      })),
    );
    for (const t of missing) this.knownTopics.add(t.name);
  }

  /**
   * Creates the topics and waits until each has a leader. kafkajs's own wait (waitForLeaders)
   * gives up on UNKNOWN_TOPIC_OR_PARTITION, which a loaded broker answers for a topic it created a
   * moment ago, and skips the wait for a topic that another process just created.
   */
  async createTopicsAndWait(topics: Parameters<Admin['createTopics']>[0]['topics']): Promise<void> {
    try {
      await this.admin.createTopics({ waitForLeaders: true, topics });
    } catch (error) {
      if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
    }
    await this.untilTopicsKnown(topics.map((t) => t.topic));
  }

  /**
   * A topic another process created a moment ago is not yet in every broker's metadata (ours
   * returned "already exists" without waiting for leaders): subscribing now fails with
   * UNKNOWN_TOPIC_OR_PARTITION, as two relays starting at once showed.
   */
  private async untilTopicsKnown(topics: string[], timeoutMs = 30_000): Promise<void> {
    for (const deadline = Date.now() + timeoutMs; ; ) {
      try {
        const { topics: found } = await this.admin.fetchTopicMetadata({ topics });
        if (found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      } catch (error) {
        const type = (error as { type?: string }).type;
        if ((type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') || Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leader after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async ensureTopics(names: string[], partitions = this.defaultPartitions): Promise<void> {
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
      if (topicMessages.length > 0) await this.producer.send(topicMessages);
      return;
    }
    try {
      await this.publisherOf(checkpoint.name).run([...topicMessages, { topic: checkpointsTopic, messages: [{ key: checkpoint.name, value: checkpoint.value }] }]);
    } catch (error) {
      // It may have committed after all: the next read of this checkpoint asks the topic.
      this.checkpoints.delete(checkpoint.name);
      throw error;
    }
    this.checkpoints.set(checkpoint.name, checkpoint.value);
  }

  async readCheckpoint(name: string, options?: ReadCheckpointOptions): Promise<string | undefined> {
    if (options?.owner) {
      this.checkpoints.delete(name);
      // InitProducerId first: it fences the previous writer and settles its transaction, so a
      // commit it had already prepared cannot land after this read (K5).
      await this.publisherOf(name).claim();
    } else {
      const cached = this.checkpoints.get(name);
      if (cached !== undefined) return cached;
    }
    const value = await readCheckpointTopic(this.kafka, this.admin, this.options.clientId, name);
    // Cached only by its writer: anyone else's copy would go stale as the writer moves on.
    if (value !== undefined && this.publishers.has(name)) this.checkpoints.set(name, value);
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
    // Real offsets, not kafkajs's -1/-2 sentinels: a consumer reads a committed -1 as "none" and
    // falls back to its own fromBeginning, which would replay everything after a reset to latest.
    const ends = await topicOffsets(this.admin, topic);
    await this.admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map((e) => ({ partition: e.partition, offset: to === 'earliest' ? e.low : e.high })),
    });
  }

  async lag(groupId: string): Promise<PartitionLag[]> {
    // The topics the group committed on, and those its live members subscribe to (none committed yet).
    const topics = new Set((await this.admin.fetchOffsets({ groupId })).map((t) => t.topic));
    const { groups } = await this.admin.describeGroups([groupId]);
    for (const member of groups[0]?.members ?? []) {
      for (const topic of subscribedTopics(member.memberMetadata)) topics.add(topic);
    }
    if (topics.size === 0) return [];
    // Asked by name, the broker answers for every partition, committed or not (-1).
    const offsets = await this.admin.fetchOffsets({ groupId, topics: [...topics] });
    const result: PartitionLag[] = [];
    for (const { topic, partitions } of offsets) {
      const ends = new Map((await topicOffsets(this.admin, topic)).map((e) => [e.partition, e]));
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
    await Promise.all([...this.publishers.values()].map((p) => p.close()));
    this.publishers.clear();
    await this.producer.close();
    await this.admin.disconnect();
  }

  /** Deletes a group its last member has left (an ephemeral group's end); a group still in use is left as it is. */
  async forgetGroup(groupId: string): Promise<void> {
    try {
      await this.admin.deleteGroups([groupId]);
    } catch (error) {
      // GROUP_NOT_EMPTY (another member joined meanwhile) or the broker away: the broker's offset retention ends it.
      this.report('message bus: an ephemeral group could not be deleted', { groupId, error: String(error) });
    }
  }

  /** Produces a dead letter to `<topic>.dlq`, created with the source topic's partition count. */
  async deadLetter(topic: string, message: OutgoingMessage): Promise<void> {
    const dlq = deadLetterTopic(topic);
    if (!this.knownTopics.has(dlq)) {
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
      await this.ensureTopics([dlq], topics[0]?.partitions.length ?? this.defaultPartitions);
    }
    await this.producer.send([{ topic: dlq, messages: [toKafka(message)] }]);
  }
}

/**
 * The topics a group member subscribes to, from its metadata. A member that is joining while
 * the group rebalances is described with empty metadata, and kafkajs's decoder throws a
 * RangeError on it: such a member names no topics yet (its topics are asked for again later).
 */
export function subscribedTopics(memberMetadata: Buffer): string[] {
  if (memberMetadata.length === 0) return [];
  try {
    return AssignerProtocol.MemberMetadata.decode(memberMetadata)?.topics ?? [];
  } catch (error) {
    if (error instanceof RangeError) return [];
    throw error;
  }
}
