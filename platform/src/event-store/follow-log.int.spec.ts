import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { Sku } from '@saga/event-schemas/ids';
import { until } from '../message-bus/contract';
import { CheckpointMovedError } from '../message-bus/port';
import { openSqliteMessageBus } from '../message-bus/sqlite';
import { followLog, type LogFollower } from './follow-log';
import { readKeys } from './follow-log.fixture';
import { openSqliteEventStore } from './sqlite';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'follow-log-'));
const topic = 'follow-log.test';
const toMessages = (e: RecordedEvent) => [{ topic, message: { key: e.streamId, value: e.eventId } }];
const silent = () => {};

async function appendEvents(store: Awaited<ReturnType<typeof openSqliteEventStore>>, streams: string[], perStream: number) {
  for (let i = 0; i < perStream; i++) {
    for (const streamId of streams) {
      await store.append(streamId, [{ eventId: randomUUID(), type: 'ProductRestocked', data: { sku: Sku.parse('MUG'), quantity: 1 }, metadata: { correlationId: 'test', causationId: randomUUID() } }]);
    }
  }
}

describe('followLog on the embedded bus', () => {
  it('refuses a publish whose expected checkpoint is stale, publishing nothing (the fence of a holder that lost its lease)', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir() });
    await bus.createTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(topic, [{ key: 'k', value: '1' }], { checkpoint: { name: 'cp', value: 'a', expected: null } });
    await expect(bus.publish(topic, [{ key: 'k', value: '2' }], { checkpoint: { name: 'cp', value: 'b', expected: null } })).rejects.toBeInstanceOf(CheckpointMovedError);
    await bus.publish(topic, [{ key: 'k', value: '3' }], { checkpoint: { name: 'cp', value: 'c', expected: 'a' } });
    expect(await bus.readCheckpoint('cp')).toBe('c');
    const received = await readKeys(bus, [topic], new Set(['k']), 2);
    expect(received.map((m) => m.value)).toEqual(['1', '3']);
    await bus.close();
  });

  // Reads of a backlog come from memory and checkpointed publishes are not waited on: without a turn of the loop
  // between batches, a long catch-up ran in one microtask chain and no timer or request ran until it ended.
  it('lets timers run while it catches up on a backlog', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const streams = Array.from({ length: 20 }, () => `inventory-${randomUUID()}`);
    const event = () => ({ eventId: randomUUID(), type: 'ProductRestocked' as const, data: { sku: Sku.parse('MUG'), quantity: 1 }, metadata: { correlationId: 'test', causationId: randomUUID() } });
    for (const streamId of streams) await store.append(streamId, Array.from({ length: 250 }, event));
    const total = streams.length * 250;
    let mapped = 0;
    const seenByTimer: number[] = [];
    const tick = setInterval(() => seenByTimer.push(mapped), 1);
    const follower = await followLog({
      store,
      bus,
      checkpoint: `cp-${randomUUID().slice(0, 8)}`,
      toMessages: (e) => (mapped++, toMessages(e)),
      log: silent,
      maxBatchSize: 50,
    });
    try {
      await until(() => mapped === total, 'the backlog to be published', 30_000);
      const during = seenByTimer.filter((n) => n > 0 && n < total);
      console.log(`follow-log: a 1 ms timer ran ${during.length} times during the catch-up of ${total} events`);
      expect(during.length).toBeGreaterThan(0);
    } finally {
      clearInterval(tick);
      await follower.stop();
      await bus.close();
      await store.close();
    }
  });

  it('runs one of two followers of a checkpoint; the other takes over when it stops, nothing lost or doubled', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const other = await openSqliteMessageBus({ dataDir }); // another connection, as another process would have
    const streams = Array.from({ length: 4 }, () => `inventory-${randomUUID()}`);
    const options = { store, checkpoint: `cp-${randomUUID().slice(0, 8)}`, toMessages, log: silent, maxBatchSize: 3 };
    const followers: LogFollower[] = [await followLog({ ...options, bus }), await followLog({ ...options, bus: other })];
    try {
      await until(() => followers.filter((f) => f.active).length === 1, 'one follower active');
      await appendEvents(store, streams, 5);
      const first = await readKeys(bus, [topic], new Set(streams), 20);
      expect(first).toHaveLength(20);
      expect(followers.filter((f) => f.active)).toHaveLength(1);

      const active = followers.find((f) => f.active)!;
      await active.stop();
      await appendEvents(store, streams, 5);
      await until(() => followers.some((f) => f !== active && f.active), 'the other follower to take over', 15_000);
      const all = await readKeys(bus, [topic], new Set(streams), 40);
      expect(all).toHaveLength(40);
      expect(new Set(all.map((m) => m.value)).size).toBe(40);
    } finally {
      await Promise.all(followers.map((f) => f.stop()));
      await other.close();
      await bus.close();
      await store.close();
    }
  });
});
