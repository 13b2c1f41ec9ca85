/**
 * The message bus, with Kafka's semantics: topics split into partitions, a message's key
 * picks its partition (so one key's messages stay in order), consumer groups commit
 * offsets after their handler succeeds (at-least-once), a message that keeps failing on its
 * own content goes to `<topic>.dlq` with its error after bounded retries, and never blocks its
 * partition. An outage (`isTransientError` in `transient.ts`: a database, store or broker
 * away) is not the message's fault: it is retried without limit and dead-letters nothing.
 */
export interface OutgoingMessage {
  key: string;
  /** JSON text. */
  value: string;
  headers?: Record<string, string>;
}

export interface BusMessage extends OutgoingMessage {
  topic: string;
  partition: number;
  offset: number;
  /** Milliseconds since the epoch, when the message was published. */
  timestamp: number;
  headers: Record<string, string>;
}

/** One topic's share of a multi-topic publish. */
export interface TopicMessages {
  topic: string;
  messages: OutgoingMessage[];
}

export interface TopicSpec {
  name: string;
  /** Default: the bus's configured partition count (`BUS_PARTITIONS`), so every service agrees. */
  partitions?: number;
}

/**
 * A publisher's progress marker stored with its messages: where the bus can (the embedded
 * log), in the same transaction; with Kafka, in a transaction of the transactional producer.
 * A publish with one is a copy of a durable source, made again from the checkpoint if lost: the
 * embedded bus answers it without waiting for an fsync (the checkpoint is lost with it).
 */
export interface PublishCheckpoint {
  name: string;
  value: string;
  /**
   * Publish only if the stored checkpoint is still this (null: none stored yet), else throw
   * CheckpointMovedError and publish nothing: another instance of the publisher went on. The
   * embedded bus checks it in the publish's transaction. Kafka cannot compare-and-set; there the
   * checkpoint's name is the transactional id, so the instance that took over fenced this one.
   */
  expected?: string | null;
}

/** Reading a checkpoint as the publisher that writes it next, or as anyone else. */
export interface ReadCheckpointOptions {
  /**
   * The caller publishes this checkpoint from now on: read the bus, not this process's cache, and
   * first settle what a previous owner left (Kafka: InitProducerId of the checkpoint's
   * transactional id, which fences that owner and ends its open transaction).
   */
  owner?: boolean;
}

/** A partition a consumer group member holds. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface RetryPolicy {
  /** Attempts per message failing on its content before it is dead-lettered (first try included). Default 5. Outages do not count. */
  maxAttempts: number;
  /** Backoff before retry n is min(initialMs * 2^(n-1), maxMs). */
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** One message at a time per partition; the offset is committed after it resolves. */
  handler?: (message: BusMessage) => Promise<void>;
  /**
   * Or a batch of one partition's messages in order: the offsets are committed after it
   * resolves. If it throws, the batch is retried message by message under the retry policy.
   */
  batchHandler?: (messages: BusMessage[]) => Promise<void>;
  maxBatchSize?: number;
  retry?: Partial<RetryPolicy>;
  /** Where a new group starts. Default 'earliest'. */
  startFrom?: 'earliest' | 'latest';
  /**
   * Told the partitions this member holds whenever that changes (an empty list when it holds
   * none, is rebalancing or stops): what a lease on a one-partition topic is built on.
   */
  onAssignment?: (partitions: TopicPartition[]) => void;
  /**
   * How long a member that stopped heartbeating (SIGKILL) keeps its partitions before the others
   * take them. Kafka: the session timeout (default 10 s, kafka/consumer.ts; the broker allows 6 s and more). The
   * embedded bus uses its lease TTL and ignores this.
   */
  sessionTimeoutMs?: number;
  /**
   * Told which partitions this member now works, before their first message is handled, and
   * which it no longer works: revoked or lost, or on stop, after the handler in flight there
   * has finished. What a member keeps per partition (a cache, timers) follows these. A revoke
   * is reported before another member can take the partition wherever the bus can order that
   * (the embedded bus awaits it before releasing the lease; kafkajs reports it when the
   * rebalance begins, which the new assignment waits for). A throw is logged, not fatal.
   */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>;
  onRevoked?: (partitions: TopicPartition[]) => void | Promise<void>;
  /**
   * A group of this member alone, for as long as it runs (a per-process control channel, named
   * afresh at each start): nothing of it is kept once it stops. Its offsets and membership are
   * deleted when it stops; those of one whose process died are deleted by the next ephemeral
   * group to start on the embedded bus once its lease has run out, and by the broker after
   * `offsets.retention.minutes` on Kafka. Without this every start leaves a group behind.
   */
  ephemeral?: boolean;
}

export interface Consumer {
  /** Stops fetching, lets the handler in flight finish, commits, and leaves the group. */
  stop(): Promise<void>;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Next offset the group will read. */
  committed: number;
  /** Offset the next published message will get. */
  end: number;
  lag: number;
}

export interface MessageBus {
  /** Creates missing topics; an existing topic is left as it is. */
  createTopics(topics: TopicSpec[]): Promise<void>;
  publish(topic: string, messages: OutgoingMessage[], options?: { checkpoint?: PublishCheckpoint }): Promise<void>;
  /**
   * Messages for several topics and the checkpoint, all or nothing (one transaction), so a
   * publisher whose input interleaves topics (the relay) can still batch.
   */
  publishMany(batches: TopicMessages[], options?: { checkpoint?: PublishCheckpoint }): Promise<void>;
  readCheckpoint(name: string, options?: ReadCheckpointOptions): Promise<string | undefined>;
  consume(options: ConsumerOptions): Promise<Consumer>;
  /** Moves a group's committed offsets (the group must not be consuming that topic). */
  resetOffsets(groupId: string, topic: string, to: 'earliest' | 'latest'): Promise<void>;
  lag(groupId: string): Promise<PartitionLag[]>;
  close(): Promise<void>;
}

/**
 * A publish with a checkpoint was refused because a newer instance of this publisher (same
 * transactional id) took over. Not an outage: the publisher must step down, not retry.
 */
export class PublisherFencedError extends Error {
  constructor(
    readonly publisherId: string,
    options?: { cause?: unknown },
  ) {
    super(`publisher ${publisherId} was fenced by a newer instance; stepping down`, options);
    this.name = 'PublisherFencedError';
  }
}

/** A publish with `expected` found another checkpoint stored: another instance published first. */
export class CheckpointMovedError extends Error {
  constructor(
    readonly checkpoint: string,
    readonly expected: string | null,
    readonly found: string | null,
  ) {
    super(`checkpoint ${checkpoint} moved: expected ${expected ?? 'none'}, found ${found ?? 'none'}; nothing was published`);
    this.name = 'CheckpointMovedError';
  }
}
