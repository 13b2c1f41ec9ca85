import type { Collection, Document, DocumentStore, Versioned, WriteOp } from '@saga/platform/document-store/port';
import type { StepName } from './steps';

/**
 * The durable index of running sagas' deadlines, one document per saga (`saga_timers`), with
 * the partition that owns the saga: an owner finds what is due in its partitions with one
 * indexed query, so neither a start nor a rebalance reads saga streams, and the work does not
 * grow with the sagas ever run (ended sagas leave the index).
 *
 * It lives in another store than the saga streams, so it is written without a transaction
 * across both, and kept safe by one invariant instead: **a running saga with a deadline D has an
 * entry due at or before D.** A writer whose transition sets a deadline earlier than the one it
 * replaces (or the first one) lowers the entry *before* appending; a later deadline needs no
 * write, since the old entry is earlier. An entry may therefore be early or stale, never late
 * or missing: an early entry fires, finds nothing due in the saga, and is set from the saga
 * itself (`settle`). So a crash between the two writes, or an append that loses a race, can
 * make a timer be looked at early, never lost.
 */
export interface TimerEntry extends Document {
  id: string;
  /** Partition of the saga's order stream on the saga's input topics (its owner holds it). */
  partition: number;
  step: StepName;
  /** Milliseconds since the epoch. */
  dueAt: number;
  /** The saga revision the deadline was taken from (a lowering writer's: the one it read, its base; -1: none yet). */
  revision: number;
}

export interface Deadline {
  orderId: string;
  partition: number;
  step: StepName;
  dueAt: number;
  /** Revision of the saga the writer based its transition on (-1 for a new saga). */
  baseRevision: number;
}

export interface TimerIndex {
  /** Before appending: each saga's entry, made due no later than the deadline given. */
  lower(deadlines: Deadline[]): Promise<void>;
  /**
   * After an append moved a running saga's deadline later (at `revision`): its entry is set to
   * it, unless written from that revision or a later one, or gone. Not needed for safety (an
   * early entry is settled when it fires), but it keeps deadlines firing on time, not a round late.
   * A raise never creates an entry: only `lower` must (the invariant), and an entry that is gone
   * was removed by the saga's end or by a settle, which a raise landing late must not undo.
   */
  raise(deadlines: (Omit<Deadline, 'baseRevision'> & { revision: number })[]): Promise<void>;
  /** After a saga ended at `revision`: its entry goes, unless written from that revision or a later one. */
  ended(sagas: { orderId: string; revision: number }[]): Promise<void>;
  /** Entries due by `now` in these partitions, earliest first, with their versions. */
  due(partitions: number[], now: number, limit: number): Promise<Versioned<TimerEntry>[]>;
  /**
   * After a due entry was looked at: set it from what the saga now is (its deadline, or gone),
   * if nobody changed it since it was read (then that writer's entry stands).
   */
  settle(read: Versioned<TimerEntry>, now: { step: StepName; dueAt: number; revision: number } | null): Promise<void>;
}

export const timerCollection = 'saga_timers';
const ATTEMPTS = 10;

export async function openTimerIndex(docs: DocumentStore): Promise<TimerIndex> {
  const timers: Collection<TimerEntry> = await docs.collection<TimerEntry>({
    name: timerCollection,
    indexes: ['partition', 'dueAt'],
    compound: [['partition', 'dueAt']],
  });

  /**
   * Compare-and-set rounds: `decide` says what to write over the current entry (or nothing);
   * conflicting ids are read again and decided again.
   */
  async function casRounds<T extends { id: string }>(items: T[], decide: (item: T, current: Versioned<TimerEntry> | undefined) => WriteOp | null, known?: Map<string, Versioned<TimerEntry> | undefined>) {
    let pending = items;
    let current = known;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === ATTEMPTS) throw new Error(`saga timer index: ${pending.length} entries kept changing under ${ATTEMPTS} writes`);
      if (!current) {
        const read = await timers.getVersioned(pending.map((i) => i.id));
        current = new Map(read.map((v) => [v.doc.id, v]));
      }
      const ops: WriteOp[] = [];
      const byId = new Map<string, T>();
      for (const item of pending) {
        const op = decide(item, current.get(item.id));
        if (op) {
          ops.push(op);
          byId.set(item.id, item);
        }
      }
      if (ops.length === 0) return;
      const { conflicts } = await docs.write(ops);
      // An all-or-nothing store applied none of them if one conflicted: every one is tried again.
      pending = docs.atomicBatches && conflicts.length > 0 ? [...byId.values()] : conflicts.map((c) => byId.get(c.id)!);
      current = undefined;
    }
  }

  return {
    async lower(deadlines) {
      if (deadlines.length === 0) return;
      const items = deadlines.map((d) => ({ ...d, id: d.orderId }));
      // New sagas have no entry yet: try that first, without a read.
      const guess = new Map<string, Versioned<TimerEntry> | undefined>(items.map((d) => [d.id, undefined]));
      await casRounds(
        items,
        (d, current) => {
          if (current && current.doc.dueAt <= d.dueAt) return null;
          const doc: TimerEntry = {
            id: d.id,
            partition: d.partition,
            step: d.step,
            dueAt: d.dueAt,
            revision: d.baseRevision,
          };
          return { collection: timerCollection, op: 'put', doc, expectedVersion: current?.version ?? 0 };
        },
        guess,
      );
    },

    async raise(deadlines) {
      if (deadlines.length === 0) return;
      await casRounds(
        deadlines.map((d) => ({ ...d, id: d.orderId })),
        (d, current) => {
          // Gone: the saga ended (another instance's write of its end overtook this one), or it has no deadline.
          if (!current || current.doc.revision >= d.revision) return null;
          const doc: TimerEntry = { id: d.id, partition: d.partition, step: d.step, dueAt: d.dueAt, revision: d.revision };
          return { collection: timerCollection, op: 'put', doc, expectedVersion: current.version };
        },
      );
    },

    async ended(sagas) {
      if (sagas.length === 0) return;
      await casRounds(
        sagas.map((s) => ({ ...s, id: s.orderId })),
        (s, current) =>
          current && current.doc.revision < s.revision ? { collection: timerCollection, op: 'delete', id: s.id, expectedVersion: current.version } : null,
      );
    },

    async due(partitions, now, limit) {
      if (partitions.length === 0) return [];
      const page = await timers.find({
        filter: { partition: { $in: partitions }, dueAt: { $lte: now } },
        sort: { field: 'dueAt', direction: 'asc' },
        limit,
      });
      if (page.items.length === 0) return [];
      const versioned = new Map((await timers.getVersioned(page.items.map((e) => e.id))).map((v) => [v.doc.id, v]));
      // Read again for the versions: one that changed in between is no longer due, or is read next time.
      return page.items.flatMap((e) => {
        const v = versioned.get(e.id);
        return v && v.doc.dueAt <= now ? [v] : [];
      });
    },

    async settle(read, now) {
      const entry = read.doc;
      let op: WriteOp;
      if (now === null) op = { collection: timerCollection, op: 'delete', id: entry.id, expectedVersion: read.version };
      else if (now.dueAt === entry.dueAt && now.step === entry.step && now.revision === entry.revision) return;
      else op = { collection: timerCollection, op: 'put', doc: { ...entry, step: now.step, dueAt: now.dueAt, revision: now.revision }, expectedVersion: read.version };
      // A conflict means a writer lowered or removed it since: its write stands.
      await docs.write([op]);
    },
  };
}
