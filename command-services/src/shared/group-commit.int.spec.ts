import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { OrderId } from '@saga/event-schemas/ids';
import { ConflictError } from '@saga/platform/errors';
import { EventValidationError, WrongExpectedRevisionError, type EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { withGroupCommit } from './group-commit';
import { tempDataDir } from './test-support';

const at = '2026-11-22T10:00:00.000Z';
const confirmed = (orderId: string, eventId: string = randomUUID()): NewEvent => ({
  eventId,
  type: 'OrderConfirmed',
  data: { orderId: OrderId.parse(orderId), confirmedAt: at },
  metadata: { correlationId: orderId, causationId: `cmd-${orderId}`, occurredAt: at },
});

describe('group commit: concurrent appends share a write, each gets the answer append would give it', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  async function open(): Promise<EventStore> {
    const dataDir = tempDataDir('group-commit');
    const store = await openSqliteEventStore({ dataDir });
    cleanups.push(async () => {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    return store;
  }

  it('a stale expectation, an invalid event and a partial re-append fail alone; the rest are stored', async () => {
    const raw = await open();
    const store = withGroupCommit(raw);
    const [taken, a, b] = [confirmed('o1'), confirmed('o1'), confirmed('o1')];
    await raw.append('order-taken', [taken], { expectedRevision: 'no_stream' });
    await raw.append('order-partial', [a], { expectedRevision: 'no_stream' });
    const invalid = { ...confirmed('o1'), data: { orderId: 'o1' } } as unknown as NewEvent;

    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => store.append(`order-n${i}`, [confirmed('o1'), confirmed('o1')], { expectedRevision: 'no_stream' })),
      store.append('order-taken', [confirmed('o1')], { expectedRevision: 'no_stream' }),
      store.append('order-bad', [invalid], { expectedRevision: 'any' }),
      store.append('order-partial', [a, b], { expectedRevision: 'any' }),
    ]);

    expect(outcomes.slice(0, 20).map((o) => (o.status === 'fulfilled' ? o.value.nextExpectedRevision : o.reason))).toEqual(Array(20).fill(1));
    const [stale, bad, partial] = outcomes.slice(20).map((o) => (o.status === 'rejected' ? o.reason : o.value));
    expect(stale).toBeInstanceOf(WrongExpectedRevisionError);
    expect(stale).toMatchObject({ streamId: 'order-taken', expected: 'no_stream', actual: 0 });
    expect(bad).toBeInstanceOf(EventValidationError);
    expect(partial).toBeInstanceOf(ConflictError);
    for (let i = 0; i < 20; i++) expect(await raw.readStream(`order-n${i}`)).toHaveLength(2);
    expect((await raw.readStream('order-taken')).map((e) => e.eventId)).toEqual([taken.eventId]);
    expect(await raw.streamRevision('order-bad')).toBe(-1);
    expect((await raw.readStream('order-partial')).map((e) => e.eventId)).toEqual([a.eventId]);
  });

  it('two appends to one stream in a group apply in the order they were made', async () => {
    const store = withGroupCommit(await open());
    const [first, second] = [confirmed('o1'), confirmed('o1')];
    const results = await Promise.all([
      store.append('order-one', [first], { expectedRevision: 'no_stream' }),
      store.append('order-one', [second], { expectedRevision: 0 }),
    ]);
    expect(results.map((r) => r.nextExpectedRevision)).toEqual([0, 1]);
    expect((await store.readStream('order-one')).map((e) => e.eventId)).toEqual([first.eventId, second.eventId]);
  });
});
