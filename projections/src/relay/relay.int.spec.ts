import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { OrderId, Sku } from '@saga/event-schemas/ids';
import { eventTopic } from '@saga/event-schemas/streams';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { until } from '@saga/platform/message-bus/contract';
import type { BusMessage, MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { relayCheckpointName, startRelay } from './relay';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'relay-'));
const topics = [eventTopic('order'), eventTopic('inventory')];

const restocked = (i: number): NewEvent => ({
  eventId: randomUUID(),
  type: 'ProductRestocked',
  data: { sku: Sku.parse('MUG'), quantity: (i % 100) + 1 },
  metadata: { correlationId: 'admin', causationId: `restock-${i}` },
});
const confirmed = (orderId: string): NewEvent => ({
  eventId: randomUUID(),
  type: 'OrderConfirmed',
  data: { orderId: OrderId.parse(orderId), confirmedAt: '2026-11-22T10:00:00.000Z' },
  metadata: { correlationId: orderId, causationId: randomUUID() },
});

/** Appends `rounds` interleaved events: one to the warehouse stream and one to each order stream per round. */
async function appendInterleaved(store: EventStore, orderIds: string[], rounds: number, offset = 0) {
  for (let round = 0; round < rounds; round++) {
    await store.append('inventory-warehouse', [restocked(offset + round)]);
    for (const orderId of orderIds) await store.append(`order-${orderId}`, [confirmed(orderId)]);
  }
}

/** Everything on the event topics, read by a fresh consumer group. */
async function readTopics(bus: MessageBus, expected: number): Promise<BusMessage[]> {
  const received: BusMessage[] = [];
  const consumer = await bus.consume({ groupId: `reader-${randomUUID()}`, topics, handler: async (m) => void received.push(m) });
  await until(() => received.length >= expected, `${expected} messages on the event topics`);
  await new Promise((r) => setTimeout(r, 150));
  await consumer.stop();
  return received;
}

/** Each stream's events arrived exactly once, in revision order, as the store recorded them. */
function expectExactlyOnceInOrder(received: BusMessage[], recorded: RecordedEvent[]) {
  expect(received).toHaveLength(recorded.length);
  const streams = new Set(recorded.map((e) => e.streamId));
  for (const streamId of streams) {
    const sent = received.filter((m) => m.key === streamId);
    expect(sent.every((m) => m.topic === eventTopic(streamId.split('-')[0]!))).toBe(true);
    expect(sent.map((m) => JSON.parse(m.value) as RecordedEvent)).toEqual(recorded.filter((e) => e.streamId === streamId));
  }
}

describe('relay from the SQLite event store to the SQLite bus', () => {
  it('publishes every event to its category topic exactly once, in order per stream', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const orderIds = Array.from({ length: 5 }, () => randomUUID());
    await appendInterleaved(store, orderIds, 20);

    const relay = await startRelay({ store, bus });
    await appendInterleaved(store, orderIds, 10, 20); // some while it is live
    const recorded = await store.readAll();
    const received = await readTopics(bus, recorded.length);
    expectExactlyOnceInOrder(received, recorded);
    expect(await bus.readCheckpoint(relayCheckpointName('relay'))).toBe(String(recorded.at(-1)!.position));

    await relay.stop();
    await bus.close();
    await store.close();
  });

  it('catches up on a backlog in slices: timers keep firing while it publishes a long log', async () => {
    // A bus file lost (or a log written by another tool) means re-publishing the whole log.
    // The follower once yielded only after full batches (500), which the store's pages (256)
    // never make: the whole backlog ran in one microtask chain, and no timer or request ran.
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    for (let chunk = 0; chunk < 120; chunk++) {
      await store.append(`inventory-warehouse-${chunk}`, Array.from({ length: 1_000 }, (_, i) => restocked(chunk * 1_000 + i)));
    }
    const head = String(await store.headPosition());

    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 2);
    const started = performance.now();
    const relay = await startRelay({ store, bus });
    await until(async () => (await bus.readCheckpoint(relayCheckpointName('relay'))) === head, 'the relay at the head of 120,000 events', 60_000);
    const took = performance.now() - started;
    clearInterval(ticker);
    await relay.stop();
    await bus.close();
    await store.close();
    // One chain shows as a gap of the whole catch-up; slices leave gaps of a slice, plus what a
    // loaded machine's scheduler adds.
    expect(took).toBeGreaterThan(400);
    expect(longestGap, `longest gap between 2 ms ticks ${longestGap.toFixed(0)} ms during a ${took.toFixed(0)} ms catch-up`).toBeLessThan(took / 4);
  }, 90_000);

  it('resumes after a stop mid-stream with nothing lost and nothing repeated', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const orderIds = Array.from({ length: 9 }, () => randomUUID());
    await appendInterleaved(store, orderIds, 100);
    const head = await store.headPosition();

    // Stop the relay right after its third publish, while most of the log is still ahead of it.
    let publishes = 0;
    let stopped: Promise<void> | undefined;
    const watched = new Proxy(bus, {
      get(target, property) {
        if (property === 'publishMany') {
          return async (...args: Parameters<MessageBus['publishMany']>) => {
            await target.publishMany(...args);
            if (++publishes === 3) stopped = first.stop();
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const first = await startRelay({ store, bus: watched, maxBatchSize: 20 });
    await until(() => stopped !== undefined, 'three publishes');
    await stopped;
    expect(publishes).toBe(3);
    // Positions compare as strings in log order.
    const stoppedAt = await bus.readCheckpoint(relayCheckpointName('relay'));
    expect(stoppedAt! < head!).toBe(true);

    await appendInterleaved(store, orderIds, 10, 100);
    const second = await startRelay({ store, bus, maxBatchSize: 20 });
    const recorded = await store.readAll();
    const received = await readTopics(bus, recorded.length);
    expectExactlyOnceInOrder(received, recorded);

    await second.stop();
    await bus.close();
    await store.close();
  });

  it('retries a failed publish until it goes through, still exactly once', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    await appendInterleaved(store, [randomUUID(), randomUUID()], 30);
    let failuresLeft = 2;
    const flaky = new Proxy(bus, {
      get(target, property) {
        if (property === 'publishMany') {
          return async (...args: Parameters<MessageBus['publishMany']>) => {
            if (failuresLeft-- > 0) throw new Error('broker unavailable');
            await target.publishMany(...args);
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const logged: string[] = [];
    const relay = await startRelay({ store, bus: flaky, log: (msg) => logged.push(msg) });
    const recorded = await store.readAll();
    expectExactlyOnceInOrder(await readTopics(bus, recorded.length), recorded);
    expect(logged.filter((m) => m === 'relay publish failed; retrying')).toHaveLength(2);

    await relay.stop();
    await bus.close();
    await store.close();
  });

  it('resumes after its process is killed mid-stream with nothing lost and nothing repeated', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const orderIds = Array.from({ length: 9 }, () => randomUUID());
    await appendInterleaved(store, orderIds, 300);
    const head = await store.headPosition();

    const bus = await openSqliteMessageBus({ dataDir });
    const script = path.join(import.meta.dirname, 'relay.process.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir], { stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    await until(async () => (await bus.readCheckpoint(relayCheckpointName('relay'))) !== undefined, 'the relay process to publish', 30_000);
    child.kill('SIGKILL');
    await exited;
    const killedAt = await bus.readCheckpoint(relayCheckpointName('relay'));
    expect(killedAt! < head!).toBe(true);

    const relay = await startRelay({ store, bus });
    const recorded = await store.readAll();
    const received = await readTopics(bus, recorded.length);
    expectExactlyOnceInOrder(received, recorded);

    await relay.stop();
    await bus.close();
    await store.close();
  });
});
