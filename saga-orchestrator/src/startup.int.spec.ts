import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import type { OrderId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { appendMany, type EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { deterministicId } from '@saga/platform/ids';
import type { SagaEvent } from './machine';
import { dispatcherCheckpoint } from './dispatcher';
import { startSagaRuntime } from './runtime';
import { startedEvents, transitionEvents, type SagaRecord } from './saga-stream';
import { sagaVersions } from './definitions';

/**
 * A start reads the timer index, not the saga streams: with 20,000 ended sagas in the store it
 * reads no more streams than with none, starts as fast, and still fires a running saga's
 * deadline that was set before the restart.
 */
const stepTimeoutMs = 1_000;

/** The stream of a saga that was rejected (no stock), built with the real machine; its commands left out. */
function endedSaga(orderId: string, at: string): NewEvent[] {
  // Version 1, as the SagaStarted below records (no version = 1).
  const v1 = sagaVersions[0]!;
  const stepper = v1.stepper;
  const [snapshot] = stepper.initial({
    orderId: orderId as OrderId,
    customerEmail: `${orderId}@example.com`,
    items: [{ sku: 'MUG-001', quantity: 1 }],
    total: 1200,
    currency: 'EUR',
    paymentToken: 'tok_4242',
    stepTimeoutMs,
    startedAt: at,
  } as Parameters<typeof stepper.initial>[0]);
  const events = startedEvents(orderId, deterministicId('placed', orderId), snapshot, [], at);
  let record: SagaRecord = { orderId, version: v1, revision: 0, snapshot, state: String(snapshot.value), seen: new Set() };
  const inputs: SagaEvent[] = [
    { type: 'StockReservationFailed', reason: 'out of stock', at },
    { type: 'OrderRejected', at },
    { type: 'EmailSent', at },
  ];
  for (const input of inputs) {
    const [next] = stepper.next(record.snapshot, input);
    const more = transitionEvents(record, { type: input.type, eventId: deterministicId(input.type, orderId) }, next, [], at);
    events.push(...more);
    record = { ...record, revision: record.revision + more.length, snapshot: next, state: String(next.value) };
  }
  if (record.state !== 'rejected') throw new Error(`the made-up saga ended in ${record.state}`);
  return events;
}

function orderPlaced(orderId: string): RecordedEvent {
  return {
    eventId: deterministicId('place', orderId),
    type: 'OrderPlaced',
    streamId: streamIdFor.order(orderId),
    revision: 0,
    position: '0000000000000010',
    data: {
      orderId,
      customerId: 'cust-1',
      customerEmail: 'alice@example.com',
      items: [{ sku: 'MUG-001', name: 'Mug', quantity: 1, unitPrice: 1200 }],
      total: 1200,
      currency: 'EUR',
      payment: { method: 'card', token: 'tok_4242', last4: '4242' },
      placedAt: new Date().toISOString(),
    },
    metadata: { correlationId: orderId, causationId: 'place-command', schemaVersion: 1, occurredAt: new Date().toISOString() },
  } as unknown as RecordedEvent;
}

/** Counts the store's stream reads and listings (what a recovery by scanning would do). */
function counting(store: EventStore): { store: EventStore; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (name === 'readStream' || name === 'listStreams' || name === 'listCategories') {
        return (...args: unknown[]) => {
          reads++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { store: counted, reads: () => reads };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Measured {
  startMs: number;
  reads: number;
  firedAfterMs: number;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** `ended` ended sagas in the store and one running saga; then a restart, measured. */
async function restartWith(ended: number): Promise<Measured> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-startup-'));
  dirs.push(dataDir);
  const store = await openSqliteEventStore({ dataDir });
  const docs = await openSqliteDocumentStore({ dataDir });
  const bus = await openSqliteMessageBus({ dataDir, membership: { heartbeatMs: 100, leaseTtlMs: 600 } });
  try {
    const at = new Date().toISOString();
    for (let i = 0; i < ended; i += 1_000) {
      const chunk = Array.from({ length: Math.min(1_000, ended - i) }, (_, j) => `ended-${i + j}`);
      await appendMany(store, chunk.map((id) => ({ streamId: streamIdFor.saga(id), events: endedSaga(id, at), expectedRevision: 'no_stream' as const })));
    }

    // A saga that waits for its stock when the orchestrator stops.
    const first = await startSagaRuntime({ store, bus, docs, stepTimeoutMs, timerTickMs: 20 });
    await bus.publish('events.order', [{ key: streamIdFor.order('running-1'), value: JSON.stringify(orderPlaced('running-1')) }]);
    // Sent: the dispatcher's checkpoint is stored with the commands, past every saga before.
    await until('its ReserveStock to be sent', async () => (await bus.readCheckpoint(dispatcherCheckpoint)) !== undefined);
    await first.stop();

    const { store: watched, reads } = counting(store);
    const startedAt = performance.now();
    const second = await startSagaRuntime({ store: watched, bus, docs, stepTimeoutMs, timerTickMs: 20 });
    const startMs = performance.now() - startedAt;
    const startReads = reads();
    await until('the running saga to time out after the restart', async () =>
      (await store.readStream(streamIdFor.saga('running-1'))).some((e) => (e.data as { input?: { type: string } }).input?.type === 'StepTimedOut'),
    );
    const firedAfterMs = performance.now() - startedAt;
    await second.stop();
    return { startMs, reads: startReads, firedAfterMs };
  } finally {
    await bus.close();
    await docs.close();
    await store.close();
  }
}

describe('orchestrator start with many ended sagas', () => {
  it('reads the timer index, not the saga streams: 20,000 ended sagas start as fast as none', async () => {
    const none = await restartWith(0);
    const many = await restartWith(20_000);
    console.info(
      `startup: 0 ended sagas: start ${none.startMs.toFixed(0)} ms, ${none.reads} stream reads; ` +
        `20,000 ended: start ${many.startMs.toFixed(0)} ms, ${many.reads} stream reads; ` +
        `the running saga's deadline fired ${none.firedAfterMs.toFixed(0)} / ${many.firedAfterMs.toFixed(0)} ms after the start`,
    );
    // No stream is read at start, whatever the store holds.
    expect(many.reads).toBe(none.reads);
    expect(many.reads).toBe(0);
    expect(many.startMs).toBeLessThan(1_000);
    // The deadline set before the restart fired after it, within a tick or two of being due.
    expect(many.firedAfterMs).toBeLessThan(stepTimeoutMs + 2_000);
  }, 120_000);
});
