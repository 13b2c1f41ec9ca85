import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { CommandId, OrderId } from '@saga/event-schemas/ids';
import { commandTopics } from '@saga/event-schemas/streams';
import { readKeys } from '@saga/platform/event-store/follow-log.fixture';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { until } from '@saga/platform/message-bus/contract';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { silentLog } from './log';
import { dispatcherCheckpoint, startCommandDispatcher } from './dispatcher';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'dispatcher-'));

function sagaStarted(orderId: string): NewEvent {
  const inputEventId = randomUUID();
  return {
    eventId: randomUUID(),
    type: 'SagaStarted',
    data: {
      orderId: OrderId.parse(orderId),
      inputEventId,
      state: 'reservingStock',
      context: {},
      commands: [{ commandId: CommandId.parse(randomUUID()), step: 'reserveStock', type: 'ReserveStock', data: { orderId, items: [{ sku: 'MUG', quantity: 1 }] } }],
      timer: null,
      at: '2026-12-01T00:00:00.000Z',
    },
    metadata: { correlationId: orderId, causationId: inputEventId },
  };
}

async function startSagas(store: Awaited<ReturnType<typeof openSqliteEventStore>>, count: number) {
  const orderIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const orderId = randomUUID();
    orderIds.push(orderId);
    await store.append(`saga-${orderId}`, [sagaStarted(orderId)]);
    // Events of other streams in between: the dispatcher reads only saga transitions.
    await store.append(`order-${orderId}`, [{ eventId: randomUUID(), type: 'OrderConfirmed', data: { orderId: OrderId.parse(orderId), confirmedAt: '2026-12-01T00:00:00.000Z' }, metadata: { correlationId: orderId, causationId: randomUUID() } }]);
  }
  return orderIds;
}

describe('saga command dispatcher on the embedded bus', () => {
  it('dispatches every issued command once, with the checkpoint at the last saga transition', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const orderIds = await startSagas(store, 30);
    const dispatcher = await startCommandDispatcher({ store, bus, log: silentLog, maxBatchSize: 7 });
    const received = await readKeys(bus, [commandTopics.inventory], new Set(orderIds), 30);
    expect(new Set(received.map((m) => m.key)).size).toBe(30);
    const lastSaga = (await store.readAll()).filter((e) => e.type === 'SagaStarted').at(-1)!;
    expect(await bus.readCheckpoint(dispatcherCheckpoint)).toBe(lastSaga.position);
    await dispatcher.stop();
    await bus.close();
    await store.close();
  });

  // Before it shared the relay's loop the dispatcher sent the same batch again after a failed
  // publish; on Kafka a publish that reports a failure may have committed, so that doubled commands.
  it('does not send a batch again when a publish that reported a failure had committed', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const orderIds = await startSagas(store, 20);
    let lies = 2;
    const committedThenFailed = new Proxy(bus, {
      get(target, property) {
        if (property === 'publishMany') {
          return async (...args: Parameters<MessageBus['publishMany']>) => {
            await target.publishMany(...args);
            if (lies-- > 0) throw new Error('the connection dropped before the commit was acknowledged');
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const errors: string[] = [];
    const log = { ...silentLog, error: (_obj: object, msg?: string) => void errors.push(msg ?? '') };
    const dispatcher = await startCommandDispatcher({ store, bus: committedThenFailed, log, maxBatchSize: 5 });
    await until(() => lies < 0, 'two publishes that committed and reported a failure');
    const received = await readKeys(bus, [commandTopics.inventory], new Set(orderIds), 20);
    expect(received).toHaveLength(20);
    expect(new Set(received.map((m) => m.key)).size).toBe(20);
    expect(errors.filter((m) => m.includes('publish failed'))).toHaveLength(2);
    await dispatcher.stop();
    await bus.close();
    await store.close();
  });

  it('resumes after a stop with nothing lost and nothing repeated', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const bus = await openSqliteMessageBus({ dataDir });
    const before = await startSagas(store, 15);
    const first = await startCommandDispatcher({ store, bus, log: silentLog, maxBatchSize: 4 });
    await readKeys(bus, [commandTopics.inventory], new Set(before), 15);
    await first.stop();
    const after = await startSagas(store, 15);
    const second = await startCommandDispatcher({ store, bus, log: silentLog, maxBatchSize: 4 });
    const all = await readKeys(bus, [commandTopics.inventory], new Set([...before, ...after]), 30);
    expect(all).toHaveLength(30);
    expect(new Set(all.map((m) => m.key)).size).toBe(30);
    await second.stop();
    await bus.close();
    await store.close();
  });
});
