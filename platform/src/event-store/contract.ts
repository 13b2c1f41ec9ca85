import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogPosition, NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { OrderId, CustomerId, Sku } from '@saga/event-schemas/ids';
import { appendMany, EventValidationError, InvalidPositionError, WrongExpectedRevisionError, type EventStore } from './port';

/**
 * The one contract both adapters must meet. Every stream lives under a category unique to
 * the run, so the suite can share a server with other data and other runs.
 */
export function eventStoreContract(name: string, open: () => Promise<{ store: EventStore; cleanup(): Promise<void> }>): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;
    const run = `t${randomBytes(4).toString('hex')}`;
    let seq = 0;
    /** A fresh stream id in this run's category (or in `category`). */
    const stream = (category = run) => `${category}-s${++seq}`;

    beforeAll(async () => {
      ({ store, cleanup } = await open());
    });
    afterAll(async () => {
      await cleanup();
    });

    const at = '2026-01-02T03:04:05.000Z';
    const confirmed = (orderId: string, eventId: string = randomUUID()): NewEvent<'OrderConfirmed'> => ({
      eventId,
      type: 'OrderConfirmed',
      data: { orderId: OrderId.parse(orderId), confirmedAt: at },
      metadata: { correlationId: orderId, causationId: `cause-${orderId}`, occurredAt: at },
    });
    const ids = (events: { eventId: string }[]) => events.map((e) => e.eventId);
    /** Positions are opaque but ordered: as strings, in log order. */
    const inOrder = (...positions: (LogPosition | null)[]) => positions.every((p, i) => p !== null && (i === 0 || positions[i - 1]! < p));

    it('appends a batch atomically and reads back every field, stamped with the current schema version', async () => {
      const s = stream();
      const placed: NewEvent<'OrderPlaced'> = {
        eventId: randomUUID(),
        type: 'OrderPlaced',
        data: {
          orderId: OrderId.parse('o1'),
          customerId: CustomerId.parse('c1'),
          customerEmail: 'ann@example.com',
          items: [{ sku: Sku.parse('MUG-001'), name: 'Mug', quantity: 2, unitPrice: 1250 }],
          total: 2500,
          currency: 'EUR',
          payment: { method: 'card', token: 'tok_1', last4: '4242' },
          placedAt: at,
        },
        metadata: { correlationId: 'o1', causationId: 'cmd-1', userId: 'u1', occurredAt: at },
      };
      const second = confirmed('o1');
      const result = await store.append(s, [placed, second], { expectedRevision: 'no_stream' });
      expect(result.nextExpectedRevision).toBe(1);

      const read = await store.readStream(s);
      expect(read).toEqual([
        {
          eventId: placed.eventId,
          type: 'OrderPlaced',
          streamId: s,
          revision: 0,
          position: read[0]!.position,
          data: placed.data,
          metadata: { correlationId: 'o1', causationId: 'cmd-1', userId: 'u1', schemaVersion: 2, occurredAt: at },
        },
        {
          eventId: second.eventId,
          type: 'OrderConfirmed',
          streamId: s,
          revision: 1,
          position: result.position,
          data: { orderId: 'o1', confirmedAt: at },
          metadata: { correlationId: 'o1', causationId: 'cause-o1', schemaVersion: 1, occurredAt: at },
        },
      ]);
      expect(inOrder(read[0]!.position, read[1]!.position)).toBe(true);
      expect(await store.streamRevision(s)).toBe(1);
      expect(await store.streamRevision(stream())).toBe(-1);
      const head = await store.headPosition();
      expect(head === result.position || inOrder(result.position, head)).toBe(true);
    });

    it('stamps occurredAt with the append time when the caller leaves it out', async () => {
      const s = stream();
      const e = confirmed('o1');
      const before = Date.now();
      await store.append(s, [{ ...e, metadata: { correlationId: 'o1', causationId: 'c' } }]);
      const [read] = await store.readStream(s);
      const t = Date.parse(read!.metadata.occurredAt);
      expect(t).toBeGreaterThanOrEqual(before - 1000);
      expect(t).toBeLessThanOrEqual(Date.now() + 1000);
    });

    describe('expected revision', () => {
      it('no_stream: succeeds on a new stream, fails with the actual revision on an existing one and appends nothing', async () => {
        const s = stream();
        await store.append(s, [confirmed('o1')], { expectedRevision: 'no_stream' });
        const err = await store.append(s, [confirmed('o1')], { expectedRevision: 'no_stream' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect(err).toMatchObject({ streamId: s, expected: 'no_stream', actual: 0, status: 409 });
        expect(await store.readStream(s)).toHaveLength(1);
      });

      it('exact: succeeds only at the stream revision; a stale one fails and the batch is not stored', async () => {
        const s = stream();
        const first = await store.append(s, [confirmed('o1'), confirmed('o1')], { expectedRevision: 'no_stream' });
        const next = await store.append(s, [confirmed('o1')], { expectedRevision: first.nextExpectedRevision });
        expect(next.nextExpectedRevision).toBe(2);
        const stale = [confirmed('o1'), confirmed('o1')];
        const err = await store.append(s, stale, { expectedRevision: 1 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect(err).toMatchObject({ streamId: s, expected: 1, actual: 2 });
        const ahead = await store.append(s, [confirmed('o1')], { expectedRevision: 7 }).catch((e: unknown) => e);
        expect(ahead).toMatchObject({ expected: 7, actual: 2 });
        const onMissing = await store.append(stream(), [confirmed('o1')], { expectedRevision: 0 }).catch((e: unknown) => e);
        expect(onMissing).toMatchObject({ expected: 0, actual: -1 });
        const read = await store.readStream(s);
        expect(read.map((e) => e.revision)).toEqual([0, 1, 2]);
        expect(ids(read)).not.toContain(stale[0]!.eventId);
      });

      it('stream_exists: fails on a missing stream, succeeds on an existing one; any always succeeds', async () => {
        const s = stream();
        const err = await store.append(s, [confirmed('o1')], { expectedRevision: 'stream_exists' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect(err).toMatchObject({ expected: 'stream_exists', actual: -1 });
        expect(await store.streamRevision(s)).toBe(-1);
        expect((await store.append(s, [confirmed('o1')])).nextExpectedRevision).toBe(0);
        expect((await store.append(s, [confirmed('o1')], { expectedRevision: 'stream_exists' })).nextExpectedRevision).toBe(1);
        expect((await store.append(s, [confirmed('o1'), confirmed('o1')], { expectedRevision: 'any' })).nextExpectedRevision).toBe(3);
      });

      it('50 appenders racing on one revision: exactly one wins, the others get a conflict', async () => {
        const s = stream();
        await store.append(s, [confirmed('o1')], { expectedRevision: 'no_stream' });
        const racers = Array.from({ length: 50 }, () => confirmed('o1'));
        const outcomes = await Promise.allSettled(racers.map((e) => store.append(s, [e], { expectedRevision: 0 })));
        const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [racers[i]!.eventId] : []));
        expect(won).toHaveLength(1);
        for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ expected: 0, actual: 1 });
        const read = await store.readStream(s);
        expect(read.map((e) => e.revision)).toEqual([0, 1]);
        expect(read[1]!.eventId).toBe(won[0]);
      });

      it('50 appenders retrying on conflict: every event lands exactly once, revisions dense', async () => {
        const s = stream();
        const events = Array.from({ length: 50 }, () => confirmed('o1'));
        let conflicts = 0;
        await Promise.all(
          events.map(async (e) => {
            for (;;) {
              const revision = await store.streamRevision(s);
              try {
                await store.append(s, [e], { expectedRevision: revision < 0 ? 'no_stream' : revision });
                return;
              } catch (err) {
                if (!(err instanceof WrongExpectedRevisionError)) throw err;
                conflicts++;
              }
            }
          }),
        );
        const read = await store.readStream(s);
        expect(read.map((e) => e.revision)).toEqual(Array.from({ length: 50 }, (_, i) => i));
        expect(new Set(ids(read))).toEqual(new Set(ids(events)));
        expect(conflicts).toBeGreaterThanOrEqual(0);
      });
    });

    describe('idempotent re-append', () => {
      it('the same batch with the same expected revision after a lost reply reports the first result and stores nothing new', async () => {
        const s = stream();
        const batch = [confirmed('o1'), confirmed('o1')];
        const first = await store.append(s, batch, { expectedRevision: 'no_stream' });
        const again = await store.append(s, batch, { expectedRevision: 'no_stream' });
        expect(again).toEqual(first);
        const next = [confirmed('o1')];
        const second = await store.append(s, next, { expectedRevision: 1 });
        expect(await store.append(s, next, { expectedRevision: 1 })).toEqual(second);
        expect(ids(await store.readStream(s))).toEqual([...ids(batch), ...ids(next)]);
      });

      it('a retry that only partly overlaps the first batch is refused and stores nothing', async () => {
        const s = stream();
        const [a, b] = [confirmed('o1'), confirmed('o1')];
        await store.append(s, [a, b], { expectedRevision: 'no_stream' });
        const c = confirmed('o1');
        const err = await store.append(s, [a, c], { expectedRevision: 'no_stream' }).catch((e: unknown) => e);
        expect(err).toMatchObject({ status: 409 });
        expect(ids(await store.readStream(s))).toEqual([a.eventId, b.eventId]);
      });
    });

    describe('appendMany (group commit)', () => {
      it('checks and applies each stream on its own: a stale expectation fails alone, the others are stored in order', async () => {
        const [a, b, c, d] = [stream(), stream(), stream(), stream()];
        await store.append(b, [confirmed('o1')], { expectedRevision: 'no_stream' });
        await store.append(c, [confirmed('o1'), confirmed('o1')], { expectedRevision: 'no_stream' });
        const batches = [[confirmed('o1'), confirmed('o1')], [confirmed('o1')], [confirmed('o1')], [confirmed('o1')]];
        const results = await appendMany(store, [
          { streamId: a, events: batches[0]!, expectedRevision: 'no_stream' },
          { streamId: b, events: batches[1]!, expectedRevision: 0 },
          { streamId: c, events: batches[2]!, expectedRevision: 0 },
          { streamId: d, events: batches[3]!, expectedRevision: 'stream_exists' },
        ]);
        expect(results).toHaveLength(4);
        expect(results[0]).toEqual({ nextExpectedRevision: 1, position: expect.any(String) });
        expect(results[1]).toEqual({ nextExpectedRevision: 1, position: expect.any(String) });
        expect(results[2]).toBeInstanceOf(WrongExpectedRevisionError);
        expect(results[2]).toMatchObject({ streamId: c, expected: 0, actual: 1 });
        expect(results[3]).toBeInstanceOf(WrongExpectedRevisionError);
        expect(results[3]).toMatchObject({ streamId: d, expected: 'stream_exists', actual: -1 });

        const readA = await store.readStream(a);
        expect(ids(readA)).toEqual(ids(batches[0]!));
        expect(readA[1]!.position).toBe((results[0] as { position: LogPosition }).position);
        expect(ids(await store.readStream(b)).slice(1)).toEqual(ids(batches[1]!));
        expect(ids(await store.readStream(c))).not.toContain(batches[2]![0]!.eventId);
        expect(await store.streamRevision(d)).toBe(-1);
      });

      it('a retry after a lost reply reports the first results and stores nothing new', async () => {
        const [a, b] = [stream(), stream()];
        const appends = [
          { streamId: a, events: [confirmed('o1')], expectedRevision: 'no_stream' as const },
          { streamId: b, events: [confirmed('o1'), confirmed('o1')], expectedRevision: 'no_stream' as const },
        ];
        const first = await appendMany(store, appends);
        expect(await appendMany(store, appends)).toEqual(first);
        expect(await store.readStream(a)).toHaveLength(1);
        expect(await store.readStream(b)).toHaveLength(2);
      });

      it('many streams at once each land exactly once; nothing to append answers nothing', async () => {
        const streams = Array.from({ length: 100 }, () => stream());
        const results = await appendMany(
          store,
          streams.map((streamId) => ({ streamId, events: [confirmed('o1')], expectedRevision: 'no_stream' as const })),
        );
        expect(results.map((r) => (r instanceof WrongExpectedRevisionError ? r : r.nextExpectedRevision))).toEqual(streams.map(() => 0));
        for (const s of streams.slice(0, 5)) expect(await store.readStream(s)).toHaveLength(1);
        expect(await appendMany(store, [])).toEqual([]);
      });

      it('an invalid event rejects the call with its validation error', async () => {
        const bad = { ...confirmed('o1'), data: { orderId: 'o1' } } as unknown as NewEvent;
        const err = await appendMany(store, [{ streamId: stream(), events: [bad], expectedRevision: 'any' }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EventValidationError);
      });
    });

    describe('schema validation', () => {
      it('rejects the whole batch with the zod issues when one event is invalid, and stores nothing', async () => {
        const s = stream();
        const bad = { ...confirmed('o1'), data: { orderId: 'not an id!', confirmedAt: 'yesterday' } } as unknown as NewEvent;
        const err = await store.append(s, [confirmed('o1'), bad]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EventValidationError);
        const v = err as EventValidationError;
        expect(v.eventType).toBe('OrderConfirmed');
        expect(v.issues.map((i) => i.path)).toEqual([['orderId'], ['confirmedAt']]);
        expect(await store.streamRevision(s)).toBe(-1);
        expect(await store.readStream(s)).toEqual([]);
      });

      it('rejects unknown event types, missing fields, bad metadata and non-UUID event ids', async () => {
        const s = stream();
        const cases: unknown[] = [
          { ...confirmed('o1'), type: 'OrderTeleported' },
          { ...confirmed('o1'), data: { orderId: 'o1' } },
          { ...confirmed('o1'), metadata: { correlationId: '', causationId: 'c' } },
          { ...confirmed('o1'), metadata: { correlationId: 'o1', causationId: 'c', cardNumber: '4242' } },
          { ...confirmed('o1'), eventId: 'not-a-uuid' },
        ];
        for (const e of cases) {
          await expect(store.append(s, [e as NewEvent])).rejects.toBeInstanceOf(EventValidationError);
        }
        expect(await store.streamRevision(s)).toBe(-1);
      });
    });

    describe('reading', () => {
      it('reads a stream forwards and backwards from a revision with a limit; a missing stream reads empty', async () => {
        const s = stream();
        const batch = Array.from({ length: 6 }, () => confirmed('o1'));
        await store.append(s, batch);
        const all = ids(batch);
        expect(ids(await store.readStream(s, { fromRevision: 2, limit: 3 }))).toEqual(all.slice(2, 5));
        expect(ids(await store.readStream(s, { direction: 'backwards', limit: 2 }))).toEqual([all[5], all[4]]);
        expect(ids(await store.readStream(s, { direction: 'backwards', fromRevision: 3 }))).toEqual([all[3], all[2], all[1], all[0]]);
        expect(ids(await store.readStream(s, { direction: 'backwards', fromRevision: 'end', limit: 1 }))).toEqual([all[5]]);
        expect(await store.readStream(s, { fromRevision: 'end' })).toEqual([]);
        expect(await store.readStream(stream())).toEqual([]);
      });

      it('reads the global log forwards and backwards from a position, filtered by stream prefix and event type', async () => {
        const cat = `${run}x`;
        const [s1, s2] = [stream(cat), stream(cat)];
        await store.append(s1, [confirmed('o1'), confirmed('o1')]);
        const cancelled: NewEvent<'OrderCancelled'> = {
          eventId: randomUUID(),
          type: 'OrderCancelled',
          data: { orderId: OrderId.parse('o2'), reason: 'changed mind', cancelledAt: at },
          metadata: { correlationId: 'o2', causationId: 'c' },
        };
        await store.append(s2, [confirmed('o2'), cancelled]);
        await store.append(stream(), [confirmed('o3')]); // another category: filtered out

        const mine = await store.readAll({ filter: { streamPrefixes: [`${cat}-`] } });
        expect(mine.map((e) => [e.streamId, e.revision])).toEqual([
          [s1, 0],
          [s1, 1],
          [s2, 0],
          [s2, 1],
        ]);
        expect(inOrder(...mine.map((e) => e.position))).toBe(true);

        const from = mine[1]!.position;
        expect((await store.readAll({ fromPosition: from, limit: 2, filter: { streamPrefixes: [`${cat}-`] } })).map((e) => e.eventId)).toEqual(
          ids(mine.slice(1, 3)),
        );
        const back = await store.readAll({ direction: 'backwards', fromPosition: mine[2]!.position, filter: { streamPrefixes: [`${cat}-`] } });
        expect(ids(back)).toEqual(ids([mine[2]!, mine[1]!, mine[0]!]));
        const lastTwo = await store.readAll({ direction: 'backwards', limit: 2, filter: { streamPrefixes: [`${cat}-`] } });
        expect(ids(lastTwo)).toEqual(ids([mine[3]!, mine[2]!]));

        const typed = await store.readAll({ filter: { eventTypes: ['OrderCancelled'], streamPrefixes: [`${cat}-`, `${run}-`] } });
        expect(typed.map((e) => ({ type: e.type, streamId: e.streamId, data: e.data }))).toEqual([
          { type: 'OrderCancelled', streamId: s2, data: { orderId: 'o2', reason: 'changed mind', cancelledAt: at } },
        ]);
        expect(await store.readAll({ fromPosition: 'end' })).toEqual([]);
      });
    });

    describe('positions are opaque cursors', () => {
      it('pages the log after the last position of each page, every event exactly once, in order', async () => {
        const cat = `${run}page`;
        const streams = [stream(cat), stream(cat), stream(cat)];
        for (let i = 0; i < 11; i++) await store.append(streams[i % 3]!, [confirmed('o1')]);
        await store.append(stream(), [confirmed('o9')]); // interleaved, filtered out
        const filter = { streamPrefixes: [`${cat}-`] };
        const expected = await store.readAll({ filter });
        expect(expected).toHaveLength(11);

        const paged: RecordedEvent[] = [];
        let after: LogPosition | undefined;
        for (let pages = 0; pages < 20; pages++) {
          const page = await store.readAll({ ...(after ? { after } : {}), limit: 3, filter });
          if (page.length === 0) break;
          paged.push(...page);
          after = page[page.length - 1]!.position;
        }
        expect(ids(paged)).toEqual(ids(expected));
        // Unfiltered pages follow each other the same way.
        const unfiltered = await store.readAll({ after: expected[4]!.position, limit: 1 });
        expect(inOrder(expected[4]!.position, unfiltered[0]!.position)).toBe(true);
        expect(await store.readAll({ after: (await store.headPosition())! })).toEqual([]);
        // Inclusive forms: from a position forwards, and backwards from one.
        expect(ids(await store.readAll({ fromPosition: expected[5]!.position, limit: 2, filter }))).toEqual(ids(expected.slice(5, 7)));
        expect(ids(await store.readAll({ direction: 'backwards', fromPosition: expected[5]!.position, limit: 2, filter }))).toEqual(
          ids([expected[5]!, expected[4]!]),
        );
      });

      it('refuses a position no event has (computed, malformed, of another kind) and reads nothing', async () => {
        const s = stream();
        await store.append(s, [confirmed('o1'), confirmed('o1')]);
        const [p] = (await store.readStream(s)).map((e) => e.position) as [LogPosition];
        const lastChar = p[p.length - 1]!;
        const forged: unknown[] = [
          `${p}1`, // what `p + 1` makes of a string
          String(Number(p) + 1), // what `Number(p) + 1` makes of a numeric one
          Number(p) + 1,
          p.slice(0, -1) + (lastChar === '1' ? '2' : '1'), // the neighbour of a real position
          '',
          '-1',
        ];
        for (const position of forged) {
          const after = store.readAll({ after: position as LogPosition, limit: 1 });
          await expect(after, `after ${JSON.stringify(position)}`).rejects.toBeInstanceOf(InvalidPositionError);
          await expect(store.readAll({ fromPosition: position as LogPosition, limit: 1 })).rejects.toMatchObject({ status: 400 });
          await expect(store.readAll({ direction: 'backwards', fromPosition: position as LogPosition, limit: 1 })).rejects.toBeInstanceOf(
            InvalidPositionError,
          );
        }
        expect(await store.readAll({ after: p, limit: 1 })).toHaveLength(1);
      });
    });

    describe('subscriptions', () => {
      const take = async (sub: AsyncIterable<RecordedEvent>, n: number, timeoutMs = 20_000) => {
        const got: RecordedEvent[] = [];
        let timeout: NodeJS.Timeout | undefined;
        const timer = new Promise<never>((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`only ${got.length}/${n} events in ${timeoutMs} ms`)), timeoutMs);
        });
        // Pulls with next() rather than for-await, whose break would close the subscription.
        const iterator = sub[Symbol.asyncIterator]();
        const loop = (async () => {
          while (got.length < n) {
            const r = await iterator.next();
            if (r.done) break;
            got.push(r.value);
          }
          return got;
        })();
        return Promise.race([loop, timer]).finally(() => clearTimeout(timeout));
      };
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

      it('catches up, goes live, and has no gap or duplicate while appends race the switch', async () => {
        const cat = `${run}sub`;
        const streams = Array.from({ length: 5 }, () => stream(cat));
        for (let i = 0; i < 60; i++) await store.append(streams[i % 5]!, [confirmed('o1'), confirmed('o1')]);
        let caughtUp = 0;
        const sub = store.subscribeToAll({ filter: { streamPrefixes: [`${cat}-`] }, onCaughtUp: () => caughtUp++ });
        // Appends keep coming while the subscription catches up and switches to live.
        const writer = (async () => {
          for (let i = 0; i < 80; i++) {
            await store.append(streams[i % 5]!, [confirmed('o1')]);
            if (i % 10 === 0) await sleep(5);
          }
        })();
        const got = await take(sub, 200);
        await writer;
        await sub.close();
        const expected = await store.readAll({ filter: { streamPrefixes: [`${cat}-`] } });
        expect(expected).toHaveLength(200);
        expect(ids(got)).toEqual(ids(expected));
        expect(got).toEqual(expected);
        expect(caughtUp).toBe(1);
      });

      it('starts after a checkpoint and delivers live appends', async () => {
        const cat = `${run}cp`;
        const s = stream(cat);
        await store.append(s, [confirmed('o1'), confirmed('o1'), confirmed('o1')]);
        const existing = await store.readAll({ filter: { streamPrefixes: [`${cat}-`] } });
        const sub = store.subscribeToAll({ after: existing[1]!.position, filter: { streamPrefixes: [`${cat}-`] } });
        const live = confirmed('o1');
        setTimeout(() => void store.append(s, [live]), 50);
        const got = await take(sub, 2);
        await sub.close();
        expect(ids(got)).toEqual([existing[2]!.eventId, live.eventId]);
      });

      it('subscribes to one stream after a revision, catch-up then live, and signals caught-up once', async () => {
        const s = stream();
        const batch = Array.from({ length: 4 }, () => confirmed('o1'));
        await store.append(s, batch);
        await store.append(stream(), [confirmed('o9')]);
        let caughtUp = 0;
        const sub = store.subscribeToStream(s, { after: 1, onCaughtUp: () => caughtUp++ });
        const live = [confirmed('o1'), confirmed('o1')];
        setTimeout(() => void store.append(s, live, { expectedRevision: 3 }), 50);
        const got = await take(sub, 4);
        await sub.close();
        expect(got.map((e) => [e.revision, e.eventId])).toEqual([
          [2, batch[2]!.eventId],
          [3, batch[3]!.eventId],
          [4, live[0]!.eventId],
          [5, live[1]!.eventId],
        ]);
        expect(caughtUp).toBe(1);
      });

      it('a slow subscriber makes the store hold at most about a page, not the backlog', async () => {
        const cat = `${run}slow`;
        const s = stream(cat);
        for (let i = 0; i < 20; i++) await store.append(s, Array.from({ length: 100 }, () => confirmed('o1')));
        const sub = store.subscribeToAll({ filter: { streamPrefixes: [`${cat}-`] } });
        const first = await take(sub, 1);
        expect(first[0]!.revision).toBe(0);
        await sleep(300); // the consumer dawdles; nothing should keep filling a buffer
        expect(sub.buffered).toBeTypeOf('number');
        expect(sub.buffered!).toBeLessThanOrEqual(600);
        const rest = await take(sub, 1999);
        expect(rest.map((e) => e.revision)).toEqual(Array.from({ length: 1999 }, (_, i) => i + 1));
        await sub.close();
      });

      it('close() ends a subscription that is waiting for live events', async () => {
        const sub = store.subscribeToStream(stream());
        const done = take(sub, 1);
        await sleep(50);
        await sub.close();
        expect(await done).toEqual([]);
      });
    });

    describe('listing', () => {
      // EventStoreDB lists from its system projections, which trail the append slightly.
      const eventually = async <T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> => {
        const until = Date.now() + timeoutMs;
        for (;;) {
          try {
            return await check();
          } catch (err) {
            if (Date.now() > until) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };

      it('lists categories with their stream counts and streams by category, paged by id', async () => {
        const cat = `${run}list`;
        const [a, b, c] = ['a', 'b', 'c'].map((x) => `${cat}-${x}`) as [string, string, string];
        await store.append(c, [confirmed('o1')]);
        await store.append(a, [confirmed('o1'), confirmed('o1')]);
        const last = await store.append(b, [confirmed('o1')]);
        await store.append(a, [confirmed('o1')]);

        await eventually(async () => {
          const categories = await store.listCategories();
          expect(categories.find((x) => x.category === cat)).toEqual({ category: cat, streams: 3 });
        });
        const page1 = await eventually(async () => {
          const p = await store.listStreams({ category: cat, limit: 2 });
          expect(p.streams.map((x) => x.streamId)).toEqual([a, b]);
          return p;
        });
        expect(page1.next).toBe(b);
        expect(page1.streams[0]).toMatchObject({ streamId: a, category: cat, revision: 2 });
        expect(page1.streams[1]).toMatchObject({ streamId: b, category: cat, revision: 0, lastPosition: last.position });
        expect(Number.isNaN(Date.parse(page1.streams[1]!.updatedAt))).toBe(false);
        const page2 = await store.listStreams({ category: cat, limit: 2, after: page1.next! });
        expect(page2).toEqual({ streams: [expect.objectContaining({ streamId: c, revision: 0 })] });
      });
    });
  });
}
