import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { deadLetterTopic } from '@saga/event-schemas/streams';
import { IllegalStateError } from '../errors';
import { newId } from '../ids';
import { openSqliteConnection, type SqliteConnection } from '../sqlite/connection';
import { backoffMs, deadLetterMessage, Interrupt, resolveRetryPolicy, validateConsumerOptions } from './delivery';
import { partitionForKey } from './partitioner';
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
 * The embedded message bus: a durable log in `${dataDir}/bus.sqlite` with Kafka's semantics.
 *
 * - Publishing to a topic that does not exist creates it with `defaultPartitions` (like
 *   Kafka's `auto.create.topics.enable`), so a relay never fails on a new category.
 * - A consumer group's members (in this or another process) divide each topic's partitions
 *   among themselves; a member works a partition only while it holds that partition's lease,
 *   renewed by its heartbeat, and an offset commit is refused to a member that lost it.
 * - A partition's worker is woken only by messages for its own partition: at once by a publish
 *   on this connection, and for other processes' publishes by polling `PRAGMA data_version`
 *   (no read of the log) and, when it moved, comparing the partitions' ends.
 * - Offsets are committed after the handler resolves, all the partitions that finished a batch
 *   in one event-loop turn together in one transaction (one WAL commit instead of one each).
 */
export interface SqliteMessageBusOptions {
  dataDir: string;
  /** Partitions of a topic created on first publish or first subscription. Default 4. */
  defaultPartitions?: number;
  /** Group membership timing. A dead member's partitions move after `leaseTtlMs`. */
  membership?: { heartbeatMs: number; leaseTtlMs: number };
  /** How often other processes' writes are looked for. Default 10 ms. */
  pollMs?: number;
  /** Where storage errors that the bus recovers from are reported (default: console.error). */
  log?: (msg: string, extra?: object) => void;
}

const defaultMembership = { heartbeatMs: 1_000, leaseTtlMs: 5_000 };

/** A fetched row, named as a BusMessage so it becomes one in place (one object per message). */
interface MessageRow {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: string | null | Record<string, string>;
  timestamp: number;
}

export async function openSqliteMessageBus(options: SqliteMessageBusOptions): Promise<MessageBus> {
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const connection = openSqliteConnection(path.join(options.dataDir, 'bus.sqlite'), {
    busyTimeoutMs: 10_000,
    ...(options.log ? { log: options.log } : {}),
  });
  const db = connection.db;
  db.exec(`
    CREATE TABLE IF NOT EXISTS bus_topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_partitions (
      topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
      PRIMARY KEY (topic, partition)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_messages (
      topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
      key TEXT NOT NULL, value TEXT NOT NULL, headers TEXT, timestamp INTEGER NOT NULL,
      PRIMARY KEY (topic, partition, offset));
    CREATE TABLE IF NOT EXISTS bus_offsets (
      group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, committed INTEGER NOT NULL,
      PRIMARY KEY (group_id, topic, partition)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_members (
      group_id TEXT NOT NULL, member_id TEXT NOT NULL, topics TEXT NOT NULL, expires_at INTEGER NOT NULL,
      PRIMARY KEY (group_id, member_id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_leases (
      group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, owner TEXT NOT NULL, expires_at INTEGER NOT NULL,
      PRIMARY KEY (group_id, topic, partition)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  `);
  return new SqliteMessageBus(connection, options);
}

function prepareStatements(db: Database.Database) {
  return {
  topic: db.prepare<[string], { partitions: number }>('SELECT partitions FROM bus_topics WHERE name = ?'),
    insertTopic: db.prepare('INSERT INTO bus_topics (name, partitions) VALUES (?, ?)'),
    insertPartition: db.prepare('INSERT INTO bus_partitions (topic, partition, next_offset) VALUES (?, ?, 0)'),
    nextOffsets: db.prepare<[string], { partition: number; next_offset: number }>(
      'SELECT partition, next_offset FROM bus_partitions WHERE topic = ? ORDER BY partition',
    ),
    setNextOffset: db.prepare('UPDATE bus_partitions SET next_offset = ? WHERE topic = ? AND partition = ?'),
    insertMessage: db.prepare(
      'INSERT INTO bus_messages (topic, partition, offset, key, value, headers, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    fetch: db.prepare<[string, number, string, number, number, number], MessageRow>(
      `SELECT ? AS topic, ? AS partition, offset, key, value, headers, timestamp FROM bus_messages
       WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?`,
    ),
    partitionEnds: db.prepare<[], { topic: string; partition: number; next_offset: number }>(
      'SELECT topic, partition, next_offset FROM bus_partitions',
    ),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    upsertCheckpoint: db.prepare(
      'INSERT INTO bus_checkpoints (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ),
    checkpoint: db.prepare<[string], { value: string }>('SELECT value FROM bus_checkpoints WHERE name = ?'),
    initOffset: db.prepare(
      'INSERT INTO bus_offsets (group_id, topic, partition, committed) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    committed: db.prepare<[string, string, number], { committed: number }>(
      'SELECT committed FROM bus_offsets WHERE group_id = ? AND topic = ? AND partition = ?',
    ),
    // Fenced: only the member holding the partition's lease may move its offset.
    commit: db.prepare(`UPDATE bus_offsets SET committed = ?
      WHERE group_id = ? AND topic = ? AND partition = ?
        AND EXISTS (SELECT 1 FROM bus_leases l WHERE l.group_id = bus_offsets.group_id AND l.topic = bus_offsets.topic
                    AND l.partition = bus_offsets.partition AND l.owner = ?)`),
    setOffset: db.prepare(`INSERT INTO bus_offsets (group_id, topic, partition, committed) VALUES (?, ?, ?, ?)
      ON CONFLICT (group_id, topic, partition) DO UPDATE SET committed = excluded.committed`),
    lag: db.prepare<[string], { topic: string; partition: number; committed: number; next_offset: number }>(
      `SELECT o.topic, o.partition, o.committed, p.next_offset FROM bus_offsets o
       JOIN bus_partitions p ON p.topic = o.topic AND p.partition = o.partition
       WHERE o.group_id = ? ORDER BY o.topic, o.partition`,
    ),
    upsertMember: db.prepare(`INSERT INTO bus_members (group_id, member_id, topics, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (group_id, member_id) DO UPDATE SET topics = excluded.topics, expires_at = excluded.expires_at`),
    dropExpiredMembers: db.prepare('DELETE FROM bus_members WHERE group_id = ? AND expires_at < ?'),
    members: db.prepare<[string, number], { member_id: string; topics: string }>(
      'SELECT member_id, topics FROM bus_members WHERE group_id = ? AND expires_at >= ? ORDER BY member_id',
    ),
    deleteMember: db.prepare('DELETE FROM bus_members WHERE group_id = ? AND member_id = ?'),
    renewLeases: db.prepare('UPDATE bus_leases SET expires_at = ? WHERE group_id = ? AND owner = ?'),
    ownedLeases: db.prepare<[string, string], { topic: string; partition: number }>(
      'SELECT topic, partition FROM bus_leases WHERE group_id = ? AND owner = ?',
    ),
    acquireLease: db.prepare(`INSERT INTO bus_leases (group_id, topic, partition, owner, expires_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (group_id, topic, partition) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE bus_leases.owner = excluded.owner OR bus_leases.expires_at < ?`),
    releaseLease: db.prepare('DELETE FROM bus_leases WHERE group_id = ? AND topic = ? AND partition = ? AND owner = ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

class SqliteMessageBus implements MessageBus {
  readonly defaultPartitions: number;
  readonly membership: { heartbeatMs: number; leaseTtlMs: number };
  readonly log: (msg: string, extra?: object) => void;
  private readonly partitionCounts = new Map<string, number>();
  /** Idle partition workers of this process, by partition (`workerKey`). */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Partition ends as of the last poll that saw another connection's commit. */
  private readonly seenEnds = new Map<string, number>();
  /** The latest messages published through this connection, by partition: most reads need no query. */
  private readonly recent = new Map<string, RecentMessages>();
  /** Bumped by every wake-up of a partition, waited on or not: tells a worker whether to look again. */
  private readonly wakeCounts = new Map<string, number>();
  private readonly commits: CommitBatch;
  private readonly consumers = new Set<SqliteConsumer>();
  private pollTimer: NodeJS.Timeout | undefined;
  private dataVersion = 0;
  private closed = false;

  readonly db: Database.Database;
  readonly sql: Statements;
  private readonly publishTx: Database.Transaction<(batches: TopicMessages[], checkpoint: PublishCheckpoint | undefined) => Appended[]>;
  private readonly createTopicsTx: Database.Transaction<(topics: TopicSpec[]) => void>;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly options: SqliteMessageBusOptions,
  ) {
    this.db = connection.db;
    const db = this.db;
    this.defaultPartitions = options.defaultPartitions ?? 4;
    this.membership = options.membership ?? defaultMembership;
    this.log = options.log ?? ((msg, extra) => console.error(msg, extra ?? ''));
    this.sql = prepareStatements(db);
    this.commits = new CommitBatch(this);
    this.publishTx = db.transaction((batches: TopicMessages[], checkpoint: PublishCheckpoint | undefined) => {
      const now = Date.now();
      const touched: Appended[] = [];
      for (const { topic, messages } of batches) {
        if (messages.length > 0) this.append(topic, messages, now, touched);
      }
      if (checkpoint) this.sql.upsertCheckpoint.run(checkpoint.name, checkpoint.value);
      return touched;
    });
    this.createTopicsTx = db.transaction((topics: TopicSpec[]) => {
      for (const t of topics) this.ensureTopic(t.name, t.partitions);
    });
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    for (const t of topics) {
      if (!Number.isInteger(t.partitions) || t.partitions < 1) throw new RangeError(`topic ${t.name}: partitions must be an integer >= 1`);
    }
    this.createTopicsTx.immediate(topics);
  }

  async publish(topic: string, messages: OutgoingMessage[], options?: { checkpoint?: PublishCheckpoint }): Promise<void> {
    await this.publishMany([{ topic, messages }], options);
  }

  async publishMany(batches: TopicMessages[], options?: { checkpoint?: PublishCheckpoint }): Promise<void> {
    this.assertOpen();
    const touched = this.publishTx.immediate(batches, options?.checkpoint);
    this.committed(touched);
  }

  async readCheckpoint(name: string): Promise<string | undefined> {
    this.assertOpen();
    return this.sql.checkpoint.get(name)?.value;
  }

  async consume(options: ConsumerOptions): Promise<Consumer> {
    this.assertOpen();
    validateConsumerOptions(options);
    const consumer = new SqliteConsumer(this, options, resolveRetryPolicy(options.retry));
    this.consumers.add(consumer);
    this.startPolling();
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
    this.commits.flush();
    this.db
      .transaction(() => {
        const live = this.sql.members.all(groupId, Date.now()).filter((m) => (JSON.parse(m.topics) as string[]).includes(topic));
        if (live.length > 0) throw new IllegalStateError(`group ${groupId} is consuming ${topic}; stop it before resetting offsets`);
        this.ensureTopic(topic, this.defaultPartitions);
        for (const p of this.sql.nextOffsets.all(topic)) {
          this.sql.setOffset.run(groupId, topic, p.partition, to === 'earliest' ? 0 : p.next_offset);
        }
      })
      .immediate();
  }

  async lag(groupId: string): Promise<PartitionLag[]> {
    this.assertOpen();
    try {
      this.commits.flush();
    } catch (error) {
      // Lag is then read as of the last commit that went through; the queued one is retried.
      this.log('message bus offset commit failed; retrying', { error: String(error) });
    }
    return this.sql.lag.all(groupId).map((r) => ({
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
    this.commits.flush();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.closed = true;
    await this.connection.close();
  }

  /** Partition count of a topic, creating it if missing (call inside a write transaction). */
  ensureTopic(topic: string, partitions: number): number {
    const known = this.partitionCounts.get(topic) ?? this.sql.topic.get(topic)?.partitions;
    if (known !== undefined) {
      this.partitionCounts.set(topic, known);
      return known;
    }
    this.sql.insertTopic.run(topic, partitions);
    for (let p = 0; p < partitions; p++) this.sql.insertPartition.run(topic, p);
    // Cached only once committed: a rolled-back creation must not be remembered.
    return partitions;
  }

  /** Appends to the topic's partitions; adds what it wrote to each partition to `touched`. */
  private append(topic: string, messages: OutgoingMessage[], now: number, touched: Appended[]): void {
    const partitions = this.ensureTopic(topic, this.defaultPartitions);
    const next = this.sql.nextOffsets.all(topic).map((r) => r.next_offset);
    const start = next.slice();
    const runs: StoredMessage[][] = [];
    for (const m of messages) {
      const p = partitions === 1 ? 0 : partitionForKey(m.key, partitions);
      const headers = m.headers === undefined || isEmpty(m.headers) ? null : JSON.stringify(m.headers);
      this.sql.insertMessage.run(topic, p, next[p]!, m.key, m.value, headers, now);
      (runs[p] ??= []).push({ key: m.key, value: m.value, headers, timestamp: now });
      next[p]! += 1;
    }
    for (let p = 0; p < partitions; p++) {
      if (next[p] === start[p]) continue;
      this.sql.setNextOffset.run(next[p], topic, p);
      touched.push({ key: workerKey(topic, p), first: start[p]!, messages: runs[p]! });
    }
  }

  /** After the commit: keep what was appended for this process's readers, and wake them. */
  private committed(touched: Appended[]): void {
    for (const { key, first, messages } of touched) {
      let recent = this.recent.get(key);
      if (!recent) this.recent.set(key, (recent = new RecentMessages()));
      recent.add(first, messages);
      this.notify(key);
    }
  }

  /** Appends dead letters and commits past the poison message in one transaction. */
  deadLetter(fenced: () => boolean, topic: string, message: OutgoingMessage): boolean {
    const touched: Appended[] = [];
    const moved = this.db
      .transaction(() => {
        this.ensureTopic(deadLetterTopic(topic), this.ensureTopic(topic, this.defaultPartitions));
        if (!fenced()) return false;
        this.append(deadLetterTopic(topic), [message], Date.now(), touched);
        return true;
      })
      .immediate();
    // A DLQ reader in this process waits on an in-process wake-up, like any other partition.
    if (moved) this.committed(touched);
    return moved;
  }

  fetch(topic: string, partition: number, from: number, limit: number): BusMessage[] {
    const recent = this.recent.get(workerKey(topic, partition))?.from(from, limit);
    if (recent) {
      return recent.map((m, i) => ({
        topic,
        partition,
        offset: from + i,
        key: m.key,
        value: m.value,
        headers: m.headers === null ? {} : (JSON.parse(m.headers) as Record<string, string>),
        timestamp: m.timestamp,
      }));
    }
    const rows = this.sql.fetch.all(topic, partition, topic, partition, from, limit);
    for (const r of rows) r.headers = r.headers === null ? {} : (JSON.parse(r.headers as string) as Record<string, string>);
    return rows as BusMessage[];
  }

  /** Queues a partition's offset for the next grouped commit (the worker hears if its lease was lost). */
  commitSoon(worker: PartitionCommitter, offset: number): void {
    this.commits.add(worker, offset);
  }

  forgetCommit(worker: PartitionCommitter): void {
    this.commits.forget(worker);
  }

  /** Commits at once whatever is queued (a worker leaving, a reader of offsets). */
  flushCommits(): void {
    this.commits.flush();
  }

  /** Resolves when something may have been published to this partition, or when interrupted. */
  waitForPartition(topic: string, partition: number, interrupt: Interrupt): Promise<void> {
    const key = workerKey(topic, partition);
    return new Promise((resolve) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const waiters = set;
      const wake = () => {
        waiters.delete(wake);
        if (waiters.size === 0) this.waiters.delete(key);
        off();
        resolve();
      };
      waiters.add(wake);
      const off = interrupt.onFire(wake);
    });
  }

  /** How many wake-ups the partition has had: unchanged since a short fetch means nothing new. */
  wakeCount(key: string): number {
    return this.wakeCounts.get(key) ?? 0;
  }

  private notify(key: string): void {
    this.wakeCounts.set(key, (this.wakeCounts.get(key) ?? 0) + 1);
    const set = this.waiters.get(key);
    if (!set) return;
    for (const wake of [...set]) wake();
  }

  private startPolling(): void {
    if (this.pollTimer) return;
    this.dataVersion = this.sql.dataVersion.get() as number;
    this.endsMoved();
    this.pollTimer = setInterval(() => {
      if (this.closed || this.waiters.size === 0) return;
      try {
        // data_version moves only when another connection commits, so an idle poll reads no table.
        const version = this.sql.dataVersion.get() as number;
        if (version === this.dataVersion) return;
        this.dataVersion = version;
        // Wake only the partitions whose end moved since the last look. A waiter registered
        // before that commit is woken now; one registered after it fetched the message itself.
        for (const key of this.endsMoved()) this.notify(key);
      } catch (error) {
        this.log('message bus poll failed', { error: String(error) });
      }
    }, this.options.pollMs ?? 10);
  }

  /**
   * Reads every partition's end (a small table) and returns the partitions whose end moved.
   * A partition's first sighting counts as moved; its wake-up is at worst a fetch for nothing.
   */
  private endsMoved(): string[] {
    const moved: string[] = [];
    for (const r of this.sql.partitionEnds.all()) {
      const key = workerKey(r.topic, r.partition);
      if (this.seenEnds.get(key) === r.next_offset) continue;
      this.seenEnds.set(key, r.next_offset);
      // Another process wrote here: the run held no longer ends at the partition's end, and a
      // short read of it must not pass for having read to the end (see the worker's loop).
      if (this.recent.get(key)?.end !== r.next_offset) this.recent.delete(key);
      moved.push(key);
    }
    return moved;
  }

  private assertOpen(): void {
    if (this.closed) throw new IllegalStateError('message bus is closed');
  }
}

class SqliteConsumer {
  readonly memberId = newId();
  readonly maxBatchSize: number;
  private readonly workers = new Map<string, PartitionWorker>();
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(
    readonly bus: SqliteMessageBus,
    readonly options: ConsumerOptions,
    readonly policy: RetryPolicy,
  ) {
    this.maxBatchSize = options.maxBatchSize ?? 256;
  }

  start(): void {
    const { sql, db } = this.bus;
    db.transaction(() => {
      for (const topic of this.options.topics) {
        const partitions = this.bus.ensureTopic(topic, this.bus.defaultPartitions);
        const ends = sql.nextOffsets.all(topic);
        for (let p = 0; p < partitions; p++) {
          const start = this.options.startFrom === 'latest' ? ends[p]!.next_offset : 0;
          sql.initOffset.run(this.options.groupId, topic, p, start);
        }
      }
    }).immediate();
    this.rebalance();
    this.heartbeat = setInterval(() => {
      try {
        this.rebalance();
      } catch (error) {
        // A busy database skips one heartbeat; leases outlive several.
        this.bus.log('message bus heartbeat failed', { groupId: this.options.groupId, error: String(error) });
      }
    }, this.bus.membership.heartbeatMs);
  }

  /** Heartbeat: renew membership and leases, then take or give up partitions to match the assignment. */
  private rebalance(): void {
    if (this.stopping) return;
    const { sql, db } = this.bus;
    const { groupId, topics } = this.options;
    const now = Date.now();
    const expires = now + this.bus.membership.leaseTtlMs;
    const decided = db
      .transaction(() => {
        sql.upsertMember.run(groupId, this.memberId, JSON.stringify(topics), expires);
        sql.dropExpiredMembers.run(groupId, now);
        sql.renewLeases.run(expires, groupId, this.memberId);
        const owned = new Set(sql.ownedLeases.all(groupId, this.memberId).map((l) => workerKey(l.topic, l.partition)));
        const members = sql.members.all(groupId, now).map((m) => ({ id: m.member_id, topics: JSON.parse(m.topics) as string[] }));
        const assigned: { topic: string; partition: number }[] = [];
        for (const topic of topics) {
          const subscribers = members.filter((m) => m.topics.includes(topic)).map((m) => m.id);
          const me = subscribers.indexOf(this.memberId);
          const partitions = this.bus.ensureTopic(topic, this.bus.defaultPartitions);
          for (let p = 0; p < partitions; p++) {
            if (p % subscribers.length !== me) continue;
            const key = workerKey(topic, p);
            if (owned.has(key) || sql.acquireLease.run(groupId, topic, p, this.memberId, expires, now).changes === 1) {
              owned.add(key);
              assigned.push({ topic, partition: p });
            }
          }
        }
        return { owned, assigned };
      })
      .immediate();
    const assignedKeys = new Set(decided.assigned.map((a) => workerKey(a.topic, a.partition)));
    for (const [key, worker] of this.workers) {
      // Lost the lease (we stalled past its expiry): stop without committing, the new owner redelivers.
      if (!decided.owned.has(key)) worker.abandon();
      // Another member joined and the partition is now theirs: finish, commit, hand over.
      else if (!assignedKeys.has(key)) worker.revoke();
    }
    for (const { topic, partition } of decided.assigned) {
      const key = workerKey(topic, partition);
      if (this.workers.has(key)) continue;
      const worker = new PartitionWorker(this, topic, partition);
      this.workers.set(key, worker);
      void worker.run().finally(() => {
        if (this.workers.get(key) === worker) this.workers.delete(key);
      });
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      if (this.heartbeat) clearInterval(this.heartbeat);
      const workers = [...this.workers.values()];
      for (const w of workers) w.revoke();
      await Promise.all(workers.map((w) => w.finished));
      this.bus.sql.deleteMember.run(this.options.groupId, this.memberId);
    })();
    return this.stopped;
  }
}

const workerKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

function isEmpty(headers: Record<string, string>): boolean {
  for (const _ in headers) return false;
  return true;
}

/** A message as stored, without its place (which the partition and offset give). */
interface StoredMessage {
  key: string;
  value: string;
  headers: string | null;
  timestamp: number;
}

/** What one transaction appended to one partition (`key` is its `workerKey`), from offset `first`. */
interface Appended {
  key: string;
  first: number;
  messages: StoredMessage[];
}

/**
 * The last messages of a partition that this connection appended, contiguous by offset, so
 * consumers in this process (often several groups, right behind the publisher) read them
 * without a query. Rows once committed never change, so a copy cannot go stale; a gap (another
 * process appended in between) restarts the run. Bounded: the oldest are dropped.
 */
class RecentMessages {
  private static readonly keep = 2_048;
  private start = 0;
  private messages: StoredMessage[] = [];

  /** The offset after the last message held. */
  get end(): number {
    return this.start + this.messages.length;
  }

  add(first: number, messages: StoredMessage[]): void {
    if (first !== this.start + this.messages.length) {
      this.start = first;
      this.messages = messages.slice();
    } else {
      for (const m of messages) this.messages.push(m);
    }
    // Trimmed in steps, so dropping the oldest costs O(1) per message.
    if (this.messages.length > 2 * RecentMessages.keep) {
      const drop = this.messages.length - RecentMessages.keep;
      this.messages = this.messages.slice(drop);
      this.start += drop;
    }
  }

  /** Up to `limit` messages from offset `from`, or undefined if `from` is not held. */
  from(from: number, limit: number): StoredMessage[] | undefined {
    const i = from - this.start;
    if (i < 0 || i >= this.messages.length) return undefined;
    return this.messages.slice(i, i + limit);
  }
}

/** A partition's offset commits, as the grouped commit sees them. */
interface PartitionCommitter {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly memberId: string;
  /** The commit of `offset` went through (`true`) or was refused because the lease is gone. */
  committed(offset: number, ok: boolean): void;
}

/**
 * Offsets handed in during one event-loop turn, committed together in one transaction. The
 * messages behind each offset were handled before it was handed in, so delivery stays
 * at-least-once; each update is still fenced by its partition's lease.
 */
class CommitBatch {
  private readonly pending = new Map<PartitionCommitter, number>();
  private scheduled = false;
  private readonly tx: Database.Transaction<(entries: [PartitionCommitter, number][]) => boolean[]>;

  constructor(private readonly bus: SqliteMessageBus) {
    this.tx = bus.db.transaction((entries: [PartitionCommitter, number][]) =>
      entries.map(([w, offset]) => bus.sql.commit.run(offset, w.groupId, w.topic, w.partition, w.memberId).changes === 1),
    );
  }

  add(worker: PartitionCommitter, offset: number): void {
    this.pending.set(worker, offset);
    this.schedule(0);
  }

  /** Drops a worker's queued offset: it is about to commit a later one itself. */
  forget(worker: PartitionCommitter): void {
    this.pending.delete(worker);
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const entries = [...this.pending];
    this.pending.clear();
    let results: boolean[];
    try {
      results = this.tx.immediate(entries);
    } catch (error) {
      // Nothing was committed: queue the offsets again unless a later one came meanwhile.
      for (const [w, offset] of entries) if (!this.pending.has(w)) this.pending.set(w, offset);
      throw error;
    }
    entries.forEach(([w, offset], i) => w.committed(offset, results[i]!));
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      try {
        this.flush();
      } catch (error) {
        // A busy database: the handled messages stay uncommitted a little longer (or are redelivered).
        this.bus.log('message bus offset commit failed; retrying', { error: String(error) });
        this.schedule(100);
      }
    };
    if (delayMs === 0) setImmediate(run);
    else setTimeout(run, delayMs);
  }
}

type Outcome = 'handled' | 'dead-lettered' | 'interrupted';

/** Works one partition strictly in order while this member holds its lease. */
class PartitionWorker implements PartitionCommitter {
  private next = 0;
  private committedOffset = 0;
  private revoked = false;
  private lost = false;
  private readonly leave = new Interrupt();
  finished: Promise<void> = Promise.resolve();

  readonly groupId: string;
  readonly memberId: string;

  constructor(
    private readonly consumer: SqliteConsumer,
    readonly topic: string,
    readonly partition: number,
  ) {
    this.groupId = consumer.options.groupId;
    this.memberId = consumer.memberId;
  }

  committed(offset: number, ok: boolean): void {
    if (!ok) this.abandon();
    else if (offset > this.committedOffset) this.committedOffset = offset;
  }

  run(): Promise<void> {
    this.finished = this.loop();
    return this.finished;
  }

  revoke(): void {
    this.revoked = true;
    this.leave.fire();
  }

  abandon(): void {
    this.lost = true;
    this.leave.fire();
  }

  private get leaving(): boolean {
    return this.revoked || this.lost;
  }

  private async loop(): Promise<void> {
    const { bus, options } = this.consumer;
    this.next = bus.sql.committed.get(options.groupId, this.topic, this.partition)?.committed ?? 0;
    this.committedOffset = this.next;
    const key = workerKey(this.topic, this.partition);
    const limit = this.consumer.maxBatchSize;
    try {
      while (!this.leaving) {
        try {
          const wakes = bus.wakeCount(key);
          const messages = bus.fetch(this.topic, this.partition, this.next, limit);
          if (messages.length === 0) {
            await bus.waitForPartition(this.topic, this.partition, this.leave);
            continue;
          }
          await this.deliver(messages);
          // A short batch read the partition to its end (a held run that another process wrote
          // past is dropped when the poll sees it, with a wake-up); with no wake-up since, a
          // fetch now would come back empty (a publish here, or a poll seeing another's, wakes it).
          const readAll = this.next === messages[messages.length - 1]!.offset + 1;
          if (messages.length < limit && readAll && bus.wakeCount(key) === wakes && !this.leaving) {
            if (this.next !== this.committedOffset && !this.lost) bus.commitSoon(this, this.next);
            await bus.waitForPartition(this.topic, this.partition, this.leave);
            continue;
          }
          if (this.next !== this.committedOffset && !this.lost) bus.commitSoon(this, this.next);
        } catch (error) {
          // Storage trouble (e.g. busy past the timeout): handled messages stay uncommitted and
          // are committed with the next batch, or redelivered; the partition is retried, not dropped.
          bus.log('message bus partition worker failed; retrying', { topic: this.topic, partition: this.partition, error: String(error) });
          await this.leave.sleep(500);
        }
      }
    } finally {
      if (!this.lost) {
        try {
          bus.flushCommits();
          this.commit();
          bus.sql.releaseLease.run(options.groupId, this.topic, this.partition, this.consumer.memberId);
        } catch (error) {
          bus.log('message bus could not commit or release on leaving; the lease will expire', { topic: this.topic, error: String(error) });
        }
      }
    }
  }

  private async deliver(messages: BusMessage[]): Promise<void> {
    const { batchHandler, handler } = this.consumer.options;
    if (batchHandler) {
      try {
        await batchHandler(messages);
        this.next = messages[messages.length - 1]!.offset + 1;
        return;
      } catch {
        // The batch failed as a whole; find the culprit by retrying message by message below.
      }
    }
    const one = handler ?? ((m: BusMessage) => batchHandler!([m]));
    for (const message of messages) {
      if (this.leaving) return;
      const outcome = await this.handle(message, one);
      if (outcome === 'interrupted') return;
      this.next = message.offset + 1;
    }
  }

  private async handle(message: BusMessage, one: (m: BusMessage) => Promise<void>): Promise<Outcome> {
    const { policy } = this.consumer;
    let lastError: unknown;
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      try {
        await one(message);
        return 'handled';
      } catch (error) {
        lastError = error;
        if (attempt < policy.maxAttempts && !(await this.leave.sleep(backoffMs(attempt, policy)))) return 'interrupted';
      }
    }
    const dead = deadLetterMessage(message, lastError, policy.maxAttempts, Date.now());
    const moved = this.consumer.bus.deadLetter(() => this.tryCommit(message.offset + 1), this.topic, dead);
    if (!moved) {
      this.lost = true;
      return 'interrupted';
    }
    return 'dead-lettered';
  }

  private commit(): void {
    if (this.next === this.committedOffset || this.lost) return;
    if (!this.tryCommit(this.next)) this.lost = true;
  }

  private tryCommit(offset: number): boolean {
    const { bus, options, memberId } = this.consumer;
    bus.forgetCommit(this);
    const ok = bus.sql.commit.run(offset, options.groupId, this.topic, this.partition, memberId).changes === 1;
    if (ok) this.committedOffset = offset;
    return ok;
  }
}
