import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore, WriteOp } from '@saga/platform/document-store/port';
import type { BusMessage, ConsumerOptions, MessageBus } from '@saga/platform/message-bus/port';
import { customerOrder, orderStory, outcomeOf, record } from './fixtures';
import { ordersProjection } from './orders';
import { projectAll } from './projection';
import { STATS_ID, statsProjection } from './stats';
import { createProjectorRunner } from './runner';

/** A bus that only hands the runner's batch handler to the test, which then plays the partitions. */
function capturingBus(): { bus: MessageBus; handler: () => (messages: BusMessage[]) => Promise<void> } {
  let captured: ConsumerOptions['batchHandler'];
  const bus = {
    createTopics: async () => {},
    consume: async (options: ConsumerOptions) => {
      captured = options.batchHandler;
      return { stop: async () => {} };
    },
  } as unknown as MessageBus;
  return { bus, handler: () => captured! };
}

const asMessages = (events: RecordedEvent[], partition: number): BusMessage[] =>
  events.map((e, i) => ({ topic: 'events.order', partition, offset: i, key: e.streamId, value: JSON.stringify(e), headers: {}, timestamp: 0 }));

const dirs: string[] = [];
/** The embedded document store in a temp dir of its own, removed after the test. */
async function freshStore() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'));
  dirs.push(dataDir);
  return openSqliteDocumentStore({ dataDir });
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('projector runner fed by the bus', () => {
  it('applies batches from several partitions together, and when that fails only the batch at fault fails', async () => {
    const real = await freshStore();
    const writes: string[][] = [];
    // The read model refuses any write touching ord-2: a batch holding its events cannot be applied.
    const store: DocumentStore = Object.create(real, {
      write: {
        value: async (...args: Parameters<DocumentStore['write']>) => {
          const ids = args[0].map((op) => (op.op === 'put' ? op.doc.id : ''));
          writes.push(ids);
          if (ids.includes('ord-2')) throw new Error('refused');
          return real.write(...args);
        },
      },
    });
    const { bus, handler } = capturingBus();
    const runner = createProjectorRunner({ bus, store, projection: ordersProjection, handover: false });
    await runner.start();
    const revisions = new Map<string, number>();
    const story = (n: number, start: number) =>
      record(orderStory(customerOrder(n, Date.UTC(2026, 0, 1)), 'confirmed'), { startPosition: start, revisions }).filter(
        (e) => e.streamId === `order-ord-${n}`,
      );
    const [first, good, poison] = [story(0, 1), story(1, 100), story(2, 200)];

    const handle = handler();
    // Three partitions' batches arrive before any is applied: one joint apply, which fails, then each alone.
    const outcomes = await Promise.allSettled([first, good, poison].map((events, partition) => handle(asMessages(events, partition))));

    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(writes).toEqual([['ord-0', 'ord-1', 'ord-2'], ['ord-0'], ['ord-1'], ['ord-2']]);
    const orders = await real.collection(ordersProjection.collection);
    expect((await orders.getMany(['ord-0', 'ord-1', 'ord-2'])).map((d) => d.id)).toEqual(['ord-0', 'ord-1']);
    await runner.stop();
    await real.close();
  });

  it('writes a long batch in parts, with turns of the event loop between them, to the same documents and totals', async () => {
    const store = await freshStore();
    const writes: number[] = [];
    const watched: DocumentStore = Object.create(store, {
      write: {
        value: async (...args: Parameters<DocumentStore['write']>) => {
          writes.push(args[0].length);
          return store.write(...args);
        },
      },
    });
    const runner = createProjectorRunner({ bus: capturingBus().bus, store: watched, projection: statsProjection, handover: false });
    const log = record(Array.from({ length: 600 }, (_, n) => orderStory(customerOrder(n, Date.UTC(2026, 0, 1)), outcomeOf(n))).flat());
    const mine = log.filter((e) => statsProjection.eventTypes.includes(e.type as never));
    let fired = 0;
    let applying = true;
    const ticking = (async () => {
      while (applying) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        fired++;
      }
    })();
    const firedBefore = fired;
    const change = await runner.applyBatch(mine);
    const firedDuring = fired - firedBefore;
    applying = false;
    await ticking;

    expect(writes.length, `${mine.length} events in writes of ${writes.join(', ')} documents`).toBeGreaterThan(1);
    expect(firedDuring).toBeGreaterThan(0);
    const want = projectAll(statsProjection, mine);
    const coll = await store.collection(statsProjection.collection);
    const got = await coll.getMany([...want.keys()]);
    expect(Object.fromEntries(got.map((d) => [d.id, d]))).toEqual(Object.fromEntries(want));
    // One change for the whole batch: every document once (the totals are not among them), as it ended.
    expect(change!.docs.map((d) => d.id).sort()).toEqual([...want.keys()].filter((id) => id !== STATS_ID).sort());
    expect(change!.docs).toEqual(change!.docs.map((d) => want.get(d.id)));
    expect(change!.events.length).toBe(mine.length);
    await store.close();
  });

  it('a replica that wrote a document since this runner last did: the next write conflicts, reloads, and nothing is lost or counted twice', async () => {
    const store = await freshStore();
    const writes: { ids: string[]; conflicts: number }[] = [];
    const watched: DocumentStore = Object.create(store, {
      write: {
        value: async (...args: Parameters<DocumentStore['write']>) => {
          const result = await store.write(...args);
          writes.push({ ids: args[0].map((op) => (op.op === 'put' ? op.doc.id : '')), conflicts: result.conflicts.length });
          return result;
        },
      },
    });
    const bus = capturingBus().bus;
    // Two replicas of the stats projection (per-order figures and one totals document) on one read model.
    const a = createProjectorRunner({ bus, store: watched, projection: statsProjection, handover: false, replica: 'a' });
    const b = createProjectorRunner({ bus, store, projection: statsProjection, handover: false, replica: 'b' });
    const log = record([0, 1, 2].flatMap((n) => orderStory(customerOrder(n, Date.UTC(2026, 0, 1)), outcomeOf(n))));
    const mine = log.filter((e) => statsProjection.eventTypes.includes(e.type as never));
    const third = Math.floor(mine.length / 3);
    await a.applyBatch(mine.slice(0, third));
    // B moves the same figures documents and the totals past the versions A last wrote.
    await b.applyBatch(mine.slice(third, 2 * third));
    writes.length = 0;
    await a.applyBatch(mine.slice(2 * third));

    expect(writes[0]!.conflicts).toBeGreaterThan(0);
    expect(writes.at(-1)!.conflicts).toBe(0);
    const coll = await store.collection(statsProjection.collection);
    const want = projectAll(statsProjection, mine);
    const got = await coll.getMany([...want.keys()]);
    expect(Object.fromEntries(got.map((d) => [d.id, d]))).toEqual(Object.fromEntries(want));
    expect(await coll.get(STATS_ID)).toEqual(want.get(STATS_ID));
    await store.close();
  });

  it('a replica killed between a try whose summary conflicted and the next: on restart every change counts once (all-or-nothing batches)', async () => {
    const store = await freshStore();
    let killAfterConflict = true;
    // Replica A's process "dies" right after a write that conflicted: no second try.
    const dying: DocumentStore = Object.create(store, {
      write: {
        value: async (...args: Parameters<DocumentStore['write']>) => {
          const result = await store.write(...args);
          if (killAfterConflict && result.conflicts.length > 0) throw new Error('killed before the next try');
          return result;
        },
      },
    });
    const bus = capturingBus().bus;
    const a = createProjectorRunner({ bus, store: dying, projection: statsProjection, handover: false, replica: 'a' });
    const b = createProjectorRunner({ bus, store, projection: statsProjection, handover: false, replica: 'b' });
    const stories = [0, 1, 2].map((n) => record(orderStory(customerOrder(n, Date.UTC(2026, 0, 1)), outcomeOf(n))).filter((e) => statsProjection.eventTypes.includes(e.type as never)));
    const [zero, one, two] = stories as [RecordedEvent[], RecordedEvent[], RecordedEvent[]];
    const half = Math.floor(zero.length / 2);
    await a.applyBatch(zero.slice(0, half));
    // B moves only the totals (another order): A's next write conflicts on the summary alone.
    await b.applyBatch(one);
    const redelivered = [...zero.slice(half), ...two];
    await expect(a.applyBatch(redelivered)).rejects.toThrow('killed');
    // A's restart (a new process: nothing cached) gets the same events again from the bus.
    killAfterConflict = false;
    const restarted = createProjectorRunner({ bus, store, projection: statsProjection, handover: false, replica: 'a2' });
    await restarted.applyBatch(redelivered);

    const coll = await store.collection(statsProjection.collection);
    const want = projectAll(statsProjection, [...zero, ...one, ...two]);
    const got = await coll.getMany([...want.keys()]);
    expect(Object.fromEntries(got.map((d) => [d.id, d]))).toEqual(Object.fromEntries(want));
    expect(await coll.get(STATS_ID)).toEqual(want.get(STATS_ID));
    await store.close();
  });

  /**
   * The embedded store with MongoDB's write semantics: each op on its own (compare-and-set per
   * document), the checkpoint only if none conflicted. `die(op)` names the op before which the
   * process "dies" (the write throws and writes nothing more).
   */
  function oneByOne(store: DocumentStore, die: (op: WriteOp, conflictsSoFar: number) => boolean = () => false): DocumentStore {
    let conflictsSoFar = 0;
    return Object.create(store, {
      atomicBatches: { value: false },
      write: {
        value: async (ops: WriteOp[], checkpoints?: Record<string, string>) => {
          const conflicts: { collection: string; id: string }[] = [];
          for (const op of ops) {
            if (die(op, conflictsSoFar)) throw new Error('killed');
            const result = await store.write([op]);
            conflictsSoFar += result.conflicts.length;
            conflicts.push(...result.conflicts);
          }
          if (conflicts.length === 0 && checkpoints) await store.write([], checkpoints);
          return { conflicts };
        },
      },
    }) as DocumentStore;
  }

  const storiesOf = (...orders: number[]) =>
    orders.map((n) => record(orderStory(customerOrder(n, Date.UTC(2026, 0, 1)), outcomeOf(n))).filter((e) => statsProjection.eventTypes.includes(e.type as never)));

  async function expectRebuilt(store: DocumentStore, events: RecordedEvent[]): Promise<void> {
    const coll = await store.collection(statsProjection.collection);
    const want = projectAll(statsProjection, events);
    const got = await coll.getMany([...want.keys()]);
    expect(Object.fromEntries(got.filter((d) => d.id !== STATS_ID).map((d) => [d.id, d]))).toEqual(Object.fromEntries([...want].filter(([id]) => id !== STATS_ID)));
    // Exactly the rebuild's, bookkeeping included: every promise kept and dropped.
    expect(await coll.get(STATS_ID)).toEqual(want.get(STATS_ID));
  }

  describe('on a store that applies ops one by one (MongoDB): the summary is the commit point', () => {
    it('two replicas interleaving on one summary and shared documents: nothing lost or counted twice', async () => {
      const sqlite = await freshStore();
      const store = oneByOne(sqlite);
      const bus = capturingBus().bus;
      const a = createProjectorRunner({ bus, store, projection: statsProjection, handover: false, replica: 'a' });
      const b = createProjectorRunner({ bus, store, projection: statsProjection, handover: false, replica: 'b' });
      const all = storiesOf(0, 1, 2, 3).flat();
      // Alternate small batches between the replicas, so each one's cache goes stale on the documents and the summary.
      for (let i = 0; i < all.length; i += 3) await (i % 2 === 0 ? a : b).applyBatch(all.slice(i, i + 3));
      await expectRebuilt(sqlite, all);
      await sqlite.close();
    });

    it('a replica killed right after a write that conflicted on the summary: its restart counts every change once', async () => {
      const sqlite = await freshStore();
      let killing = false;
      const dying = oneByOne(sqlite, (_op, conflicts) => killing && conflicts > 0);
      const bus = capturingBus().bus;
      const a = createProjectorRunner({ bus, store: dying, projection: statsProjection, handover: false, replica: 'a' });
      const b = createProjectorRunner({ bus, store: oneByOne(sqlite), projection: statsProjection, handover: false, replica: 'b' });
      const [zero, one, two] = storiesOf(0, 1, 2) as [RecordedEvent[], RecordedEvent[], RecordedEvent[]];
      const half = Math.floor(zero.length / 2);
      await a.applyBatch(zero.slice(0, half));
      await b.applyBatch(one); // moves the summary past what a knows
      killing = true;
      const redelivered = [...zero.slice(half), ...two];
      await expect(a.applyBatch(redelivered)).rejects.toThrow('killed');
      const restarted = createProjectorRunner({ bus, store: oneByOne(sqlite), projection: statsProjection, handover: false, replica: 'a2' });
      await restarted.applyBatch(redelivered);
      await expectRebuilt(sqlite, [...zero, ...one, ...two]);
      await sqlite.close();
    });

    it('a replica killed after its summary committed and before its documents: the promise is kept by the next batch of any replica', async () => {
      const sqlite = await freshStore();
      let killing = false;
      const dying = oneByOne(sqlite, (op) => killing && op.op === 'put' && op.doc.id !== STATS_ID);
      const bus = capturingBus().bus;
      const a = createProjectorRunner({ bus, store: dying, projection: statsProjection, handover: false, replica: 'a' });
      const [zero, one, two] = storiesOf(0, 1, 2) as [RecordedEvent[], RecordedEvent[], RecordedEvent[]];
      const half = Math.floor(zero.length / 2);
      await a.applyBatch(zero.slice(0, half));
      killing = true;
      const redelivered = [...zero.slice(half), ...two];
      await expect(a.applyBatch(redelivered)).rejects.toThrow('killed');
      // Replica b's batch (another order) finds the summary's promise of order 0's and 2's documents and writes them.
      const b = createProjectorRunner({ bus, store: oneByOne(sqlite), projection: statsProjection, handover: false, replica: 'b' });
      await b.applyBatch(one);
      // A's restart gets the same events again: all applied already, nothing counts twice.
      const restarted = createProjectorRunner({ bus, store: oneByOne(sqlite), projection: statsProjection, handover: false, replica: 'a2' });
      await restarted.applyBatch(redelivered);
      await expectRebuilt(sqlite, [...zero, ...one, ...two]);
      await sqlite.close();
    });

    it('a replica killed between two of its documents, after the summary committed: its restart completes the batch once', async () => {
      const sqlite = await freshStore();
      let puts = 0;
      let killAt = Infinity;
      const dying = oneByOne(sqlite, (op) => op.op === 'put' && op.doc.id !== STATS_ID && ++puts === killAt);
      const bus = capturingBus().bus;
      const a = createProjectorRunner({ bus, store: dying, projection: statsProjection, handover: false, replica: 'a' });
      const [zero, one] = storiesOf(0, 1) as [RecordedEvent[], RecordedEvent[]];
      await a.applyBatch(zero.slice(0, 2));
      puts = 0;
      killAt = 2; // the batch changes order 0's and order 1's figures: the second one is never written
      const redelivered = [...zero.slice(2), ...one];
      await expect(a.applyBatch(redelivered)).rejects.toThrow('killed');
      const restarted = createProjectorRunner({ bus, store: oneByOne(sqlite), projection: statsProjection, handover: false, replica: 'a2' });
      await restarted.applyBatch(redelivered);
      await expectRebuilt(sqlite, [...zero, ...one]);
      await sqlite.close();
    });
  });
});
