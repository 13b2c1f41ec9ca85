import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDocumentStore, type SqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { openTimerIndex, timerCollection, type TimerIndex } from './timer-index';

/**
 * The index's one invariant: a running saga's entry is never later than its deadline. Each rule
 * that keeps it, on the embedded document store.
 */
describe('saga timer index', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-timers-'));
  let docs: SqliteDocumentStore;
  let index: TimerIndex;
  beforeAll(async () => {
    docs = await openSqliteDocumentStore({ dataDir });
    index = await openTimerIndex(docs);
  });
  afterAll(async () => {
    await docs.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const entry = async (id: string) => (await docs.collection({ name: timerCollection, indexes: ['partition', 'dueAt'], compound: [['partition', 'dueAt']] })).get(id);

  it('lowers an entry, never raises it, before an append', async () => {
    await index.lower([{ orderId: 'o1', partition: 2, step: 'reserveStock', dueAt: 1_000, baseRevision: -1 }]);
    await index.lower([{ orderId: 'o1', partition: 2, step: 'chargePayment', dueAt: 2_000, baseRevision: 0 }]);
    expect(await entry('o1')).toEqual({ id: 'o1', partition: 2, step: 'reserveStock', dueAt: 1_000, revision: -1 });
    await index.lower([{ orderId: 'o1', partition: 2, step: 'chargePayment', dueAt: 500, baseRevision: 3 }]);
    expect(await entry('o1')).toEqual({ id: 'o1', partition: 2, step: 'chargePayment', dueAt: 500, revision: 3 });
  });

  it('writes every entry of a batch in which one conflicted (the store rolls back the whole batch)', async () => {
    await index.lower([{ orderId: 'b1', partition: 1, step: 'reserveStock', dueAt: 1_000, baseRevision: -1 }]);
    // b1 exists, so its first, read-free try conflicts; b2 and b3 must land all the same.
    await index.lower([
      { orderId: 'b2', partition: 1, step: 'reserveStock', dueAt: 3_000, baseRevision: -1 },
      { orderId: 'b1', partition: 1, step: 'chargePayment', dueAt: 500, baseRevision: 2 },
      { orderId: 'b3', partition: 1, step: 'reserveStock', dueAt: 4_000, baseRevision: -1 },
    ]);
    expect([await entry('b1'), await entry('b2'), await entry('b3')]).toEqual([
      { id: 'b1', partition: 1, step: 'chargePayment', dueAt: 500, revision: 2 },
      { id: 'b2', partition: 1, step: 'reserveStock', dueAt: 3_000, revision: -1 },
      { id: 'b3', partition: 1, step: 'reserveStock', dueAt: 4_000, revision: -1 },
    ]);
  });

  it('raises an entry only from a later revision than the one it was written from', async () => {
    await index.lower([{ orderId: 'o2', partition: 0, step: 'reserveStock', dueAt: 1_000, baseRevision: 4 }]);
    // Written from revision 4 (a writer about to append after 4): a raise from 4 must not undo it.
    await index.raise([{ orderId: 'o2', partition: 0, step: 'chargePayment', dueAt: 9_000, revision: 4 }]);
    expect((await entry('o2'))?.dueAt).toBe(1_000);
    await index.raise([{ orderId: 'o2', partition: 0, step: 'chargePayment', dueAt: 9_000, revision: 5 }]);
    expect(await entry('o2')).toEqual({ id: 'o2', partition: 0, step: 'chargePayment', dueAt: 9_000, revision: 5 });
  });

  it('never brings an entry back with a raise that lands after the saga ended', async () => {
    // Two instances: one applied a reply at revision 3 (its raise still queued), another the end at revision 6.
    await index.lower([{ orderId: 'o5', partition: 1, step: 'reserveStock', dueAt: 1_000, baseRevision: -1 }]);
    await index.ended([{ orderId: 'o5', revision: 6 }]);
    await index.raise([{ orderId: 'o5', partition: 1, step: 'chargePayment', dueAt: 4_000, revision: 3 }]);
    expect(await entry('o5')).toBeNull();
  });

  it('removes an ended saga, unless its entry was written from its end or later', async () => {
    await index.lower([{ orderId: 'o3', partition: 1, step: 'reserveStock', dueAt: 1_000, baseRevision: -1 }]);
    await index.ended([{ orderId: 'o3', revision: 6 }]);
    expect(await entry('o3')).toBeNull();
    await index.lower([{ orderId: 'o4', partition: 1, step: 'reserveStock', dueAt: 1_000, baseRevision: 6 }]);
    await index.ended([{ orderId: 'o4', revision: 6 }]);
    expect(await entry('o4')).not.toBeNull();
  });

  it('lists what is due in the partitions asked for, earliest first, and settles an entry only if unchanged since', async () => {
    await index.lower([
      { orderId: 'd1', partition: 3, step: 'chargePayment', dueAt: 200, baseRevision: 1 },
      { orderId: 'd2', partition: 3, step: 'chargePayment', dueAt: 100, baseRevision: 1 },
      { orderId: 'd3', partition: 3, step: 'chargePayment', dueAt: 5_000, baseRevision: 1 },
      { orderId: 'd4', partition: 4, step: 'chargePayment', dueAt: 100, baseRevision: 1 },
    ]);
    const due = await index.due([3], 1_000, 10);
    expect(due.map((v) => v.doc.id)).toEqual(['d2', 'd1']);

    const [d2, d1] = due;
    await index.settle(d2!, { step: 'confirmOrder', dueAt: 7_000, revision: 4 });
    expect(await entry('d2')).toMatchObject({ step: 'confirmOrder', dueAt: 7_000, revision: 4 });
    // Lowered by a writer after d1 was read: the settle from the older read loses.
    await index.lower([{ orderId: 'd1', partition: 3, step: 'chargePayment', dueAt: 150, baseRevision: 2 }]);
    await index.settle(d1!, null);
    expect(await entry('d1')).toMatchObject({ dueAt: 150 });
    const again = await index.due([3], 1_000, 10);
    expect(again.map((v) => v.doc.id)).toEqual(['d1']);
    await index.settle(again[0]!, null);
    expect(await entry('d1')).toBeNull();
  });

  it('finds due entries with an index, not a scan', async () => {
    const plan = docs.explainFind(timerCollection, {
      filter: { partition: { $in: [0, 1] }, dueAt: { $lte: 1_000 } },
      sort: { field: 'dueAt', direction: 'asc' },
      limit: 500,
    });
    expect(plan.some((line) => line === `SCAN ${timerCollection}`)).toBe(false);
  });
});
