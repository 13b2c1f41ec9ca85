import type Database from 'better-sqlite3';
import type { Statements } from './schema';

/** A partition's offset commits, as the grouped commit sees them. */
export interface PartitionCommitter {
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
export class CommitBatch {
  private readonly pending = new Map<PartitionCommitter, number>();
  private scheduled = false;
  private readonly tx: Database.Transaction<(entries: [PartitionCommitter, number][]) => boolean[]>;

  constructor(
    db: Database.Database,
    sql: Statements,
    private readonly report: (msg: string, extra?: object) => void,
  ) {
    this.tx = db.transaction((entries: [PartitionCommitter, number][]) =>
      entries.map(([w, offset]) => sql.commit.run(offset, w.groupId, w.topic, w.partition, w.memberId).changes === 1),
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
        this.report('message bus offset commit failed; retrying', { error: String(error) });
        this.schedule(100);
      }
    };
    if (delayMs === 0) setImmediate(run);
    else setTimeout(run, delayMs);
  }
}
