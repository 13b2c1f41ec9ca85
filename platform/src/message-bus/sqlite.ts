import fs from 'node:fs';
import path from 'node:path';
import { IllegalStateError } from '../errors';
import { openSqliteConnection, type SqliteConnection } from '../sqlite/connection';
import { resolveRetryPolicy, validateConsumerOptions } from './delivery';
import type { Consumer, ConsumerOptions, MessageBus, OutgoingMessage, PartitionLag, PublishCheckpoint, TopicMessages, TopicSpec } from './port';
import { CommitBatch } from './sqlite/commits';
import { SqliteConsumer } from './sqlite/group';
import { PartitionLog } from './sqlite/log';
import { createSchema, prepareStatements } from './sqlite/schema';
import type { BusParts } from './sqlite/worker';

/**
 * The embedded message bus: a durable log in `${dataDir}/bus.sqlite` with Kafka's semantics.
 * One module per concern under `sqlite/`: the tables (`schema`), the partitioned log and its
 * wake-ups (`log`), group membership and leases (`group`), grouped offset commits (`commits`)
 * and the partition worker (`worker`), which delivers through the loop both buses share.
 *
 * - Publishing to a topic that does not exist creates it with `defaultPartitions` (like
 *   Kafka's `auto.create.topics.enable`), so a relay never fails on a new category.
 * - Offsets are committed after the handler resolves, all the partitions that finished a batch
 *   in one event-loop turn together in one transaction (one WAL commit instead of one each).
 */
export interface SqliteMessageBusOptions {
  dataDir: string;
  /** Partitions of a topic created without a count, on first publish or first subscription. Default 4. */
  defaultPartitions?: number;
  /** Group membership timing. A dead member's partitions move after `leaseTtlMs`. */
  membership?: { heartbeatMs: number; leaseTtlMs: number };
  /** How often other processes' writes are looked for. Default 10 ms. */
  pollMs?: number;
  /** Where storage errors that the bus recovers from are reported (default: console.error). */
  log?: (msg: string, extra?: object) => void;
}

const defaultMembership = { heartbeatMs: 1_000, leaseTtlMs: 5_000 };

export async function openSqliteMessageBus(options: SqliteMessageBusOptions): Promise<MessageBus> {
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const connection = openSqliteConnection(path.join(options.dataDir, 'bus.sqlite'), {
    busyTimeoutMs: 10_000,
    ...(options.log ? { log: options.log } : {}),
  });
  createSchema(connection.db);
  const bus = new SqliteMessageBus(connection, options);
  await bus.open();
  return bus;
}

class SqliteMessageBus implements MessageBus {
  private readonly parts: BusParts;
  private readonly consumers = new Set<SqliteConsumer>();
  private closed = false;

  constructor(
    private readonly connection: SqliteConnection,
    options: SqliteMessageBusOptions,
  ) {
    const db = connection.db;
    const sql = prepareStatements(db);
    const report = options.log ?? ((msg: string, extra?: object) => console.error(msg, extra ?? ''));
    this.parts = {
      db,
      sql,
      log: new PartitionLog(db, sql, options.defaultPartitions ?? 4, options.pollMs ?? 10, report, connection.sync),
      commits: new CommitBatch(db, sql, report),
      membership: options.membership ?? defaultMembership,
      report,
    };
  }

  open(): Promise<void> {
    return this.parts.log.open();
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    for (const t of topics) {
      if (t.partitions !== undefined && (!Number.isInteger(t.partitions) || t.partitions < 1)) {
        throw new RangeError(`topic ${t.name}: partitions must be an integer >= 1`);
      }
    }
    this.parts.log.createTopics(topics);
  }

  async publish(topic: string, messages: OutgoingMessage[], options?: { checkpoint?: PublishCheckpoint }): Promise<void> {
    await this.publishMany([{ topic, messages }], options);
  }

  async publishMany(batches: TopicMessages[], options?: { checkpoint?: PublishCheckpoint }): Promise<void> {
    this.assertOpen();
    await this.parts.log.publish(batches, options?.checkpoint);
  }

  async readCheckpoint(name: string): Promise<string | undefined> {
    this.assertOpen();
    return this.parts.sql.checkpoint.get(name)?.value;
  }

  async consume(options: ConsumerOptions): Promise<Consumer> {
    this.assertOpen();
    validateConsumerOptions(options);
    const consumer = new SqliteConsumer(this.parts, options, resolveRetryPolicy(options.retry));
    this.consumers.add(consumer);
    this.parts.log.startPolling();
    consumer.start();
    return {
      stop: async () => {
        await consumer.stop();
        this.consumers.delete(consumer);
      },
    };
  }

  async resetOffsets(groupId: string, topic: string, to: 'earliest' | 'latest'): Promise<void> {
    this.assertOpen();
    const { db, sql, log, commits } = this.parts;
    commits.flush();
    db.transaction(() => {
      const live = sql.members.all(groupId, Date.now()).filter((m) => (JSON.parse(m.topics) as string[]).includes(topic));
      if (live.length > 0) throw new IllegalStateError(`group ${groupId} is consuming ${topic}; stop it before resetting offsets`);
      log.ensureTopic(topic, log.defaultPartitions);
      for (const p of sql.nextOffsets.all(topic)) {
        sql.setOffset.run(groupId, topic, p.partition, to === 'earliest' ? 0 : p.next_offset);
      }
    }).immediate();
  }

  async lag(groupId: string): Promise<PartitionLag[]> {
    this.assertOpen();
    try {
      this.parts.commits.flush();
    } catch (error) {
      // Lag is then read as of the last commit that went through; the queued one is retried.
      this.parts.report('message bus offset commit failed; retrying', { error: String(error) });
    }
    return this.parts.sql.lag.all(groupId).map((r) => ({
      topic: r.topic,
      partition: r.partition,
      committed: r.committed,
      end: r.next_offset,
      lag: Math.max(0, r.next_offset - r.committed),
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.consumers.clear();
    this.parts.commits.flush();
    this.parts.log.stopPolling();
    this.closed = true;
    await this.connection.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new IllegalStateError('message bus is closed');
  }
}
