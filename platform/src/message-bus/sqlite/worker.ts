import { backgroundTurn } from '../../turns';
import type Database from 'better-sqlite3';
import { deliverWithRetry, Interrupt, type DeliveryTarget } from '../delivery';
import type { BusMessage, ConsumerOptions, OutgoingMessage, RetryPolicy } from '../port';
import type { CommitBatch, PartitionCommitter } from './commits';
import { workerKey, type PartitionLog } from './log';
import type { Statements } from './schema';

/** The embedded bus's parts that its consumers share. */
export interface BusParts {
  db: Database.Database;
  sql: Statements;
  log: PartitionLog;
  commits: CommitBatch;
  membership: { heartbeatMs: number; leaseTtlMs: number };
  report: (msg: string, extra?: object) => void;
}

/** The consumer a worker works for. */
export interface WorkerOwner {
  readonly memberId: string;
  readonly options: ConsumerOptions;
  readonly policy: RetryPolicy;
  readonly maxBatchSize: number;
  /** Tells the consumer's `onAssigned`/`onRevoked` about one partition; never throws. */
  announce(change: 'assigned' | 'revoked', topic: string, partition: number): Promise<void>;
}

/** Works one partition strictly in order while this member holds its lease. */
export class PartitionWorker implements PartitionCommitter {
  private next = 0;
  private committedOffset = 0;
  private revoked = false;
  private lost = false;
  private readonly leave = new Interrupt();
  private readonly target: DeliveryTarget;
  finished: Promise<void> = Promise.resolve();

  readonly groupId: string;
  readonly memberId: string;

  constructor(
    private readonly bus: BusParts,
    private readonly owner: WorkerOwner,
    readonly topic: string,
    readonly partition: number,
  ) {
    this.groupId = owner.options.groupId;
    this.memberId = owner.memberId;
    this.target = {
      policy: owner.policy,
      leave: this.leave,
      leaving: () => this.leaving,
      deadLetter: (message, dead) => this.deadLetter(message, dead),
      onOutage: (error, retry) => {
        if (retry === 1 || retry % 10 === 0) {
          bus.report('message bus handler hit an outage; retrying', { topic, partition, retry, error: String(error) });
        }
      },
    };
  }

  committed(offset: number, ok: boolean): void {
    if (!ok) this.abandon();
    else if (offset > this.committedOffset) this.committedOffset = offset;
  }

  run(): Promise<void> {
    this.finished = this.loop();
    return this.finished;
  }

  /** The partition is now another member's: finish, commit, hand over. */
  revoke(): void {
    this.revoked = true;
    this.leave.fire();
  }

  /** The lease is gone: stop without committing, the new owner redelivers. */
  abandon(): void {
    this.lost = true;
    this.leave.fire();
  }

  private get leaving(): boolean {
    return this.revoked || this.lost;
  }

  private async loop(): Promise<void> {
    const { log, sql } = this.bus;
    const { options } = this.owner;
    this.next = sql.committed.get(options.groupId, this.topic, this.partition)?.committed ?? 0;
    this.committedOffset = this.next;
    const key = workerKey(this.topic, this.partition);
    const limit = this.owner.maxBatchSize;
    await this.owner.announce('assigned', this.topic, this.partition);
    try {
      while (!this.leaving) {
        try {
          const wakes = log.wakeCount(key);
          const messages = log.fetch(this.topic, this.partition, this.next, limit);
          if (messages.length === 0) {
            await log.waitForPartition(this.topic, this.partition, this.leave);
            // Woken by a publish: a turn first, or every worker it woke would handle its batch
            // inside the publisher's turn, one after another (a re-published log wakes 48).
            await backgroundTurn();
            continue;
          }
          const next = await deliverWithRetry(messages, options, this.target);
          if (next !== undefined) this.next = next;
          // A short batch read the partition to its end (a held run that another process wrote
          // past is dropped when the poll sees it, with a wake-up); with no wake-up since, a
          // fetch now would come back empty (a publish here, or a poll seeing another's, wakes it).
          const readAll = this.next === messages[messages.length - 1]!.offset + 1;
          if (messages.length < limit && readAll && log.wakeCount(key) === wakes && !this.leaving) {
            if (this.next !== this.committedOffset && !this.lost) this.bus.commits.add(this, this.next);
            await log.waitForPartition(this.topic, this.partition, this.leave);
            await backgroundTurn();
            continue;
          }
          if (this.next !== this.committedOffset && !this.lost) this.bus.commits.add(this, this.next);
          // More to read at once: a turn of the event loop first. A handler whose awaits all settle
          // at once (SQLite is synchronous) would otherwise run batch after batch of a backlog in one
          // microtask chain, and no request, timer or I/O callback would run until it ended.
          // (A wake-up above takes a turn too.)
          await backgroundTurn();
        } catch (error) {
          // Storage trouble (e.g. busy past the timeout): handled messages stay uncommitted and
          // are committed with the next batch, or redelivered; the partition is retried, not dropped.
          this.bus.report('message bus partition worker failed; retrying', { topic: this.topic, partition: this.partition, error: String(error) });
          await this.leave.sleep(500);
        }
      }
    } finally {
      // Before the lease is released: the next owner starts only after this one has let go.
      await this.owner.announce('revoked', this.topic, this.partition);
      if (!this.lost) {
        try {
          this.bus.commits.flush();
          this.commit();
          sql.releaseLease.run(options.groupId, this.topic, this.partition, this.memberId);
        } catch (error) {
          this.bus.report('message bus could not commit or release on leaving; the lease will expire', { topic: this.topic, error: String(error) });
        }
      }
    }
  }

  /** Dead-letters and commits past the message in one transaction, unless the lease is gone. */
  private deadLetter(message: BusMessage, dead: OutgoingMessage): boolean {
    const moved = this.bus.log.deadLetter(() => this.tryCommit(message.offset + 1), this.topic, dead);
    if (!moved) this.lost = true;
    return moved;
  }

  private commit(): void {
    if (this.next === this.committedOffset || this.lost) return;
    if (!this.tryCommit(this.next)) this.lost = true;
  }

  private tryCommit(offset: number): boolean {
    const { sql, commits } = this.bus;
    commits.forget(this);
    const ok = sql.commit.run(offset, this.groupId, this.topic, this.partition, this.memberId).changes === 1;
    if (ok) this.committedOffset = offset;
    return ok;
  }
}
