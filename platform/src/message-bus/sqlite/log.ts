import type Database from 'better-sqlite3';
import { deadLetterTopic } from '@saga/event-schemas/streams';
import type { Interrupt } from '../delivery';
import { partitionForKey } from '../partitioner';
import { CheckpointMovedError, type BusMessage, type OutgoingMessage, type PublishCheckpoint, type TopicMessages, type TopicSpec } from '../port';
import type { Statements } from './schema';

export const workerKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * The partitioned log: appends (with a publisher's checkpoint, in one transaction), fetches,
 * and wakes the partition workers of this process.
 *
 * A partition's worker is woken only by messages for its own partition: by a publish on this
 * connection, and for other processes' publishes by polling `PRAGMA data_version` (no read of
 * the log) and, when it moved, comparing the partitions' ends.
 *
 * Power-cut safety: messages are handed out only up to each partition's durable end, the end
 * as it was before a sync of the WAL that has finished (wal-sync.ts). A publish answers, keeps
 * its messages for this process's readers and wakes them once its sync is done; another
 * process's messages are synced by the poll that sees them, before it wakes anyone. So no
 * consumer acts on a message that a power cut could take back, except a follower's copy of the
 * event log (a publish with a checkpoint, see `publish`), which is made again if it is lost.
 */
export class PartitionLog {
  private readonly partitionCounts = new Map<string, number>();
  /** Idle partition workers of this process, by partition (`workerKey`). */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Partition ends as of the last poll that saw another connection's commit. */
  private readonly seenEnds = new Map<string, number>();
  /** The latest messages published through this connection, by partition: most reads need no query. */
  private readonly recent = new Map<string, RecentMessages>();
  /** Bumped by every wake-up of a partition, waited on or not: tells a worker whether to look again. */
  private readonly wakeCounts = new Map<string, number>();
  /** Offsets below these are on disk, by partition (`workerKey`). */
  private readonly durableEnds = new Map<string, number>();
  private pollTimer: NodeJS.Timeout | undefined;
  private dataVersion = 0;
  private readonly publishTx: Database.Transaction<(batches: TopicMessages[], checkpoint: PublishCheckpoint | undefined) => Appended[]>;
  /** Several publishes in one transaction, each in its own savepoint: a moved checkpoint undoes that one alone. */
  private readonly publishGroupTx: Database.Transaction<(group: PendingPublish[]) => (Appended[] | CheckpointMovedError)[]>;
  /** Partitions (`workerKey`) with committed publishes whose sync has not answered yet, and how many. */
  private readonly unsynced = new Map<string, number>();
  /** Publishes asked for during this turn's microtasks, written together (`publishPending`). */
  private pending: PendingPublish[] = [];
  private readonly createTopicsTx: Database.Transaction<(topics: TopicSpec[]) => void>;

  constructor(
    private readonly db: Database.Database,
    private readonly sql: Statements,
    readonly defaultPartitions: number,
    private readonly pollMs: number,
    private readonly report: (msg: string, extra?: object) => void,
    private readonly sync: () => Promise<void>,
  ) {
    this.publishTx = db.transaction((batches: TopicMessages[], checkpoint: PublishCheckpoint | undefined) => {
      if (checkpoint?.expected !== undefined) {
        const found = this.sql.checkpoint.get(checkpoint.name)?.value ?? null;
        if (found !== checkpoint.expected) throw new CheckpointMovedError(checkpoint.name, checkpoint.expected, found);
      }
      const now = Date.now();
      const touched: Appended[] = [];
      for (const { topic, messages } of batches) {
        if (messages.length > 0) this.append(topic, messages, now, touched);
      }
      if (checkpoint) this.sql.upsertCheckpoint.run(checkpoint.name, checkpoint.value);
      return touched;
    });
    this.publishGroupTx = db.transaction((group: PendingPublish[]) =>
      group.map((p) => {
        try {
          return this.publishTx(p.batches, p.checkpoint);
        } catch (error) {
          if (error instanceof CheckpointMovedError) return error;
          throw error;
        }
      }),
    );
    this.createTopicsTx = db.transaction((topics: TopicSpec[]) => {
      for (const t of topics) this.ensureTopic(t.name, t.partitions ?? this.defaultPartitions);
    });
  }

  createTopics(topics: TopicSpec[]): void {
    this.createTopicsTx.immediate(topics);
  }

  /** What every earlier run and other process committed is on disk before anything is handed out. */
  async open(): Promise<void> {
    const ends = this.sql.partitionEnds.all();
    await this.sync();
    for (const r of ends) this.durableEnds.set(workerKey(r.topic, r.partition), r.next_offset);
  }

  /**
   * Appends every batch and the checkpoint in one transaction; once that is on disk, wakes this
   * process's readers. Group commit: the publishes asked for in the same turn (the relay's and
   * the dispatcher's, woken by the same append) share one transaction and one sync, each in its
   * own savepoint with its own answer; if the group fails as a whole, each is tried alone.
   *
   * A publish with a checkpoint is a follower's copy of a log that is on disk already (the
   * relay's, the dispatcher's: they read only synced events), so it is not waited for: a power
   * cut that takes it takes its checkpoint with it (one WAL, cut back to a whole commit, never
   * past a later sync), the follower copies it again from there, and whoever acted on the lost
   * copy recorded that in its own durable store and dedupes the second one. A group with any
   * other publish in it waits for its sync as a whole: its messages may share a partition.
   */
  publish(batches: TopicMessages[], checkpoint: PublishCheckpoint | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batches, checkpoint, resolve, reject });
      // After this turn's microtasks, so that publishes set off by one wake-up meet.
      if (this.pending.length === 1) process.nextTick(() => this.publishPending());
    });
  }

  private publishPending(): void {
    const group = this.pending;
    this.pending = [];
    if (group.length === 1) return this.publishAlone(group[0]!);
    let results: (Appended[] | CheckpointMovedError)[];
    try {
      results = this.publishGroupTx.immediate(group);
    } catch {
      for (const p of group) this.publishAlone(p);
      return;
    }
    const written = results.flatMap((r) => (r instanceof CheckpointMovedError ? [] : r));
    const answer = () =>
      group.forEach((p, i) => {
        const result = results[i]!;
        if (result instanceof CheckpointMovedError) return p.reject(result);
        this.committed(result);
        p.resolve();
      });
    if (group.every((p) => p.checkpoint) && !this.behindUnsynced(written)) return answer();
    this.awaitSync(group.some((p) => !p.checkpoint) ? written : [], answer, (error) => {
      for (const p of group) p.reject(error);
    });
  }

  private publishAlone(p: PendingPublish): void {
    let touched: Appended[];
    try {
      touched = this.publishTx.immediate(p.batches, p.checkpoint);
    } catch (error) {
      p.reject(error);
      return;
    }
    const answer = () => {
      this.committed(touched);
      p.resolve();
    };
    if (p.checkpoint && !this.behindUnsynced(touched)) return answer();
    this.awaitSync(p.checkpoint ? [] : touched, answer, p.reject);
  }

  /**
   * Whether a follower's copy lands behind another publish's messages that are not on disk yet
   * (a partition both write to): handing it out would hand those out too, so it waits for their sync.
   */
  private behindUnsynced(touched: Appended[]): boolean {
    return touched.some((a) => (this.unsynced.get(a.key) ?? 0) > 0);
  }

  /** Answers once a sync covers the commit; `plain` are its messages that must not be handed out before (see `behindUnsynced`). */
  private awaitSync(plain: Appended[], answer: () => void, fail: (error: unknown) => void): void {
    for (const a of plain) this.unsynced.set(a.key, (this.unsynced.get(a.key) ?? 0) + 1);
    this.sync().then(() => {
      // A failed sync leaves its partitions marked: nothing after them is handed out unsynced.
      for (const a of plain) {
        const left = (this.unsynced.get(a.key) ?? 1) - 1;
        if (left > 0) this.unsynced.set(a.key, left);
        else this.unsynced.delete(a.key);
      }
      answer();
    }, fail);
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

  /** After the commit's sync: keep what was appended for this process's readers, and wake them. */
  private committed(touched: Appended[]): void {
    for (const { key, first, messages } of touched) {
      let recent = this.recent.get(key);
      if (!recent) this.recent.set(key, (recent = new RecentMessages()));
      recent.add(first, messages);
      this.advance(key, first + messages.length);
    }
  }

  private advance(key: string, end: number): void {
    if (end > (this.durableEnds.get(key) ?? 0)) this.durableEnds.set(key, end);
    this.notify(key);
  }

  /** Appends a dead letter and (through `fenced`) commits past the poison message, in one transaction. */
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
    if (moved) {
      this.sync().then(
        () => this.committed(touched),
        (error: unknown) => this.report('message bus could not sync a dead letter to disk', { topic, error: String(error) }),
      );
    }
    return moved;
  }

  /** Up to `limit` messages from offset `from`, only of those on disk. */
  fetch(topic: string, partition: number, from: number, limit: number): BusMessage[] {
    const key = workerKey(topic, partition);
    // Offsets are contiguous, so a count bounds the read at the durable end.
    limit = Math.min(limit, (this.durableEnds.get(key) ?? 0) - from);
    if (limit <= 0) return [];
    const recent = this.recent.get(key)?.from(from, limit);
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

  startPolling(): void {
    if (this.pollTimer) return;
    this.dataVersion = this.sql.dataVersion.get() as number;
    this.wakeWhenSynced(this.endsMoved());
    this.pollTimer = setInterval(() => {
      if (this.waiters.size === 0) return;
      try {
        // data_version moves only when another connection commits, so an idle poll reads no table.
        const version = this.sql.dataVersion.get() as number;
        if (version === this.dataVersion) return;
        this.dataVersion = version;
        // Wake only the partitions whose end moved since the last look. A waiter registered
        // before that commit is woken now; one registered after it fetched the message itself.
        this.wakeWhenSynced(this.endsMoved());
      } catch (error) {
        this.report('message bus poll failed', { error: String(error) });
      }
    }, this.pollMs);
  }

  stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Another process's messages: handed out (and their partitions woken) once a sync covers them. */
  private wakeWhenSynced(moved: { key: string; end: number }[]): void {
    if (moved.length === 0) return;
    this.sync().then(
      () => {
        for (const { key, end } of moved) this.advance(key, end);
      },
      (error: unknown) => this.report('message bus could not sync the WAL', { error: String(error) }),
    );
  }

  /**
   * Reads every partition's end (a small table) and returns the partitions whose end moved.
   * A partition's first sighting counts as moved; its wake-up is at worst a fetch for nothing.
   */
  private endsMoved(): { key: string; end: number }[] {
    const moved: { key: string; end: number }[] = [];
    for (const r of this.sql.partitionEnds.all()) {
      const key = workerKey(r.topic, r.partition);
      if (this.seenEnds.get(key) === r.next_offset) continue;
      this.seenEnds.set(key, r.next_offset);
      // Another process wrote here: the run held no longer ends at the partition's end, and a
      // short read of it must not pass for having read to the end (see the worker's loop).
      if (this.recent.get(key)?.end !== r.next_offset) this.recent.delete(key);
      moved.push({ key, end: r.next_offset });
    }
    return moved;
  }
}

function isEmpty(headers: Record<string, string>): boolean {
  for (const _ in headers) return false;
  return true;
}

/** A publish waiting for the next group. */
interface PendingPublish {
  batches: TopicMessages[];
  checkpoint: PublishCheckpoint | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
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
