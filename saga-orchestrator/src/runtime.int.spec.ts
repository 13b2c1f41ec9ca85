import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand, type CommandEnvelope } from '@saga/event-schemas/commands';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf, commandTopics, eventTopic, streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import type { Consumer, MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { deterministicId } from '@saga/platform/ids';
import { partitionForKey } from '@saga/platform/message-bus/partitioner';
import { createMetrics } from '@saga/platform/metrics';
import type { RetryPolicy } from '@saga/platform/message-bus/port';
import { startSagaRuntime, type SagaRuntime } from './runtime';

/**
 * The runtime on the real SQLite event store and bus, with fake services answering on the
 * command topics: each answer is published as a recorded event on its category topic, as the
 * relay would, with a deterministic event id derived from the command id (like the services).
 */
type Reply = { type: string; data: Record<string, unknown> } | null;
type Responder = (command: CommandEnvelope) => Reply | Promise<Reply>;

const orderId = 'ord-1';
const items = [{ sku: 'MUG-001', quantity: 2 }];

function recorded(type: string, streamId: string, data: Record<string, unknown>, eventId: string, causationId: string): RecordedEvent {
  return {
    eventId,
    type,
    streamId,
    revision: 0,
    // Replies made up here are not in the store; any well-formed cursor will do.
    position: '0000000000000010',
    data,
    metadata: { correlationId: orderId, causationId, schemaVersion: 1, occurredAt: new Date().toISOString() },
  } as unknown as RecordedEvent;
}

const orderPlaced = recorded(
  'OrderPlaced',
  streamIdFor.order(orderId),
  {
    orderId,
    customerId: 'cust-1',
    customerEmail: 'alice@example.com',
    items: [{ sku: 'MUG-001', name: 'Mug', quantity: 2, unitPrice: 1200 }],
    total: 2400,
    currency: 'EUR',
    payment: { method: 'card', token: 'tok_4242', last4: '4242' },
    placedAt: new Date().toISOString(),
  },
  deterministicId('place', orderId),
  'place-command',
);

const streamOf: Record<string, string> = {
  StockReserved: 'inventory-warehouse',
  StockReleased: 'inventory-warehouse',
  StockCommitted: 'inventory-warehouse',
  PaymentCaptured: streamIdFor.payment(orderId),
  PaymentDeclined: streamIdFor.payment(orderId),
  PaymentRefunded: streamIdFor.payment(orderId),
  OrderConfirmed: streamIdFor.order(orderId),
  OrderRejected: streamIdFor.order(orderId),
  OrderCancelled: streamIdFor.order(orderId),
  EmailSent: streamIdFor.email(orderId),
  EmailFailed: streamIdFor.email(orderId),
};

/** Every service succeeds. */
const succeed: Responder = (c) => {
  const { template, reason } = c.data as { template?: string; reason?: string };
  switch (c.type) {
    case 'ReserveStock':
      return { type: 'StockReserved', data: { orderId, items } };
    case 'ChargePayment':
      return { type: 'PaymentCaptured', data: { orderId, paymentId: 'pay-1', amount: 2400, currency: 'EUR' } };
    case 'ConfirmOrder':
      return { type: 'OrderConfirmed', data: { orderId, confirmedAt: new Date().toISOString() } };
    case 'CommitStock':
      return { type: 'StockCommitted', data: { orderId, items } };
    case 'SendEmail':
      return { type: 'EmailSent', data: { orderId, emailId: 'em-1', to: 'alice@example.com', template, subject: 's', body: 'b', attempts: 1 } };
    case 'ReleaseStock':
      return { type: 'StockReleased', data: { orderId, items } };
    case 'RefundPayment':
      return { type: 'PaymentRefunded', data: { orderId, paymentId: 'pay-1', amount: 2400, currency: 'EUR', reason } };
    case 'RejectOrder':
      return { type: 'OrderRejected', data: { orderId, reason, rejectedAt: new Date().toISOString() } };
    case 'CancelOrder':
      return { type: 'OrderCancelled', data: { orderId, reason, cancelledAt: new Date().toISOString() } };
  }
};

interface World {
  dataDir: string;
  store: EventStore;
  bus: MessageBus;
  docs: DocumentStore;
  /** Every command delivery the fake services received, redeliveries included. */
  received: CommandEnvelope[];
  services: Consumer;
  publishEvent(event: RecordedEvent): Promise<void>;
  sagaEvents(): Promise<RecordedEvent[]>;
  until(what: string, check: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const opened: World[] = [];
const runtimes: SagaRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  for (const w of opened.splice(0)) await w.close();
});

async function world(responder: Responder, options: { duplicateReplies?: boolean; retry?: Partial<RetryPolicy> } = {}): Promise<World> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-runtime-'));
  const store = await openSqliteEventStore({ dataDir });
  const docs = await openSqliteDocumentStore({ dataDir });
  const bus = await openSqliteMessageBus({ dataDir, membership: { heartbeatMs: 100, leaseTtlMs: 600 } });
  const received: CommandEnvelope[] = [];
  const publishEvent = (event: RecordedEvent) =>
    bus.publish(eventTopic(categoryOf(event.streamId)), [{ key: event.streamId, value: JSON.stringify(event) }]);
  const services = await bus.consume({
    groupId: 'fake-services',
    topics: Object.values(commandTopics),
    ...(options.retry ? { retry: options.retry } : {}),
    handler: async (message) => {
      const command = parseCommand(JSON.parse(message.value));
      received.push(command);
      const reply = await responder(command);
      if (!reply) return;
      const event = recorded(reply.type, streamOf[reply.type]!, reply.data, deterministicId(command.commandId, 0), command.commandId);
      await publishEvent(event);
      if (options.duplicateReplies) await publishEvent(event);
    },
  });
  const w: World = {
    dataDir,
    store,
    bus,
    docs,
    received,
    services,
    publishEvent,
    sagaEvents: () => store.readStream(streamIdFor.saga(orderId)),
    async until(what, check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      await services.stop();
      await bus.close();
      await docs.close();
      await store.close();
    },
  };
  opened.push(w);
  return w;
}

async function runtime(w: World, stepTimeoutMs = 5_000, bus: MessageBus = w.bus): Promise<SagaRuntime> {
  const r = await startSagaRuntime({ store: w.store, bus, docs: w.docs, stepTimeoutMs, timerTickMs: 20 });
  runtimes.push(r);
  return r;
}

async function stopRuntime(r: SagaRuntime): Promise<void> {
  await r.stop();
  runtimes.splice(runtimes.indexOf(r), 1);
}

const ended = async (w: World) => (await w.sagaEvents()).find((e) => e.type === 'SagaEnded')?.data as { status: string; flags: string[] } | undefined;
const transitions = async (w: World) =>
  (await w.sagaEvents()).filter((e) => e.type !== 'SagaEnded').map((e) => {
    const d = e.data as { state?: string; from?: string; to?: string; input?: { type: string }; commands: { type: string }[] };
    return [d.input?.type ?? 'OrderPlaced', d.from ?? null, d.to ?? d.state, d.commands.map((c) => c.type).join(',')];
  });

describe('saga runtime on the SQLite event store and bus', () => {
  it('runs the happy path: persists every transition, sends each command once, ends completed', async () => {
    const w = await world(succeed);
    await runtime(w);
    await w.publishEvent(orderPlaced);
    await w.until('the saga ends', async () => (await ended(w)) !== undefined);

    expect(await transitions(w)).toEqual([
      ['OrderPlaced', null, 'reservingStock', 'ReserveStock'],
      ['StockReserved', 'reservingStock', 'chargingPayment', 'ChargePayment'],
      ['PaymentCaptured', 'chargingPayment', 'confirmingOrder', 'ConfirmOrder'],
      ['OrderConfirmed', 'confirmingOrder', 'committingStock', 'CommitStock'],
      ['StockCommitted', 'committingStock', 'sendingConfirmationEmail', 'SendEmail'],
      ['EmailSent', 'sendingConfirmationEmail', 'completed', ''],
    ]);
    expect(await ended(w)).toMatchObject({ status: 'completed', flags: [] });
    expect(w.received.map((c) => c.type)).toEqual(['ReserveStock', 'ChargePayment', 'ConfirmOrder', 'CommitStock', 'SendEmail']);
    expect(w.received[0]).toEqual({
      commandId: deterministicId(orderId, 'reserveStock', 'ReserveStock'),
      type: 'ReserveStock',
      data: { orderId, items },
      metadata: { correlationId: orderId, causationId: orderPlaced.eventId, issuedAt: expect.any(String) },
    });
  });

  it('ignores duplicate deliveries: each input applied once, each command sent once', async () => {
    const w = await world(succeed, { duplicateReplies: true });
    await runtime(w);
    await w.publishEvent(orderPlaced);
    await w.publishEvent(orderPlaced);
    await w.until('the saga ends', async () => (await ended(w)) !== undefined);
    await new Promise((r) => setTimeout(r, 200));

    const inputs = (await w.sagaEvents()).filter((e) => e.type !== 'SagaEnded');
    expect(inputs).toHaveLength(6);
    expect(w.received.map((c) => c.type)).toEqual(['ReserveStock', 'ChargePayment', 'ConfirmOrder', 'CommitStock', 'SendEmail']);
  });

  it('re-sends, after a restart, commands persisted but not dispatched before a crash', async () => {
    const w = await world(succeed);
    // The first process "dies" between appending a transition and publishing its commands.
    const dying = new Proxy(w.bus, {
      get(target, prop) {
        if (prop === 'publishMany') return async () => Promise.reject(new Error('killed before dispatch'));
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const first = await runtime(w, 5_000, dying);
    await w.publishEvent(orderPlaced);
    await w.until('the first transition is persisted', async () => (await w.sagaEvents()).length === 1);
    await stopRuntime(first);
    expect(w.received).toEqual([]);

    await runtime(w);
    await w.until('the saga ends', async () => (await ended(w)) !== undefined);
    expect(await ended(w)).toMatchObject({ status: 'completed' });
    expect(w.received.map((c) => c.type)).toEqual(['ReserveStock', 'ChargePayment', 'ConfirmOrder', 'CommitStock', 'SendEmail']);
  });

  it('fires a step deadline after a restart (durable timer) and compensates: payment timed out', async () => {
    const silentPayment: Responder = (c) => (c.type === 'ChargePayment' ? null : succeed(c));
    const w = await world(silentPayment);
    const first = await runtime(w, 400);
    await w.publishEvent(orderPlaced);
    await w.until('the charge is sent', () => w.received.some((c) => c.type === 'ChargePayment'));
    await stopRuntime(first);
    await new Promise((r) => setTimeout(r, 500)); // the deadline passes while no runtime runs

    await runtime(w, 400);
    await w.until('the saga ends', async () => (await ended(w)) !== undefined);
    expect(await ended(w)).toMatchObject({ status: 'rejected', flags: ['paymentTimedOut'] });
    // New sagas run version 2: the first deadline re-sends the charge (same id), the second fails the step.
    expect((await transitions(w)).slice(2)).toEqual([
      ['StepTimedOut', 'chargingPayment', 'chargingPayment', 'ChargePayment'],
      ['StepTimedOut', 'chargingPayment', 'releasingStock', 'ReleaseStock'],
      ['StockReleased', 'releasingStock', 'rejectingOrder', 'RejectOrder'],
      ['OrderRejected', 'rejectingOrder', 'sendingRejectionEmail', 'SendEmail'],
      ['EmailSent', 'sendingRejectionEmail', 'rejected', ''],
    ]);
  });

  it('refunds a capture that arrives after its step timed out', async () => {
    let releaseCapture: () => void = () => undefined;
    const lateCapture = new Promise<void>((resolve) => (releaseCapture = resolve));
    const slowPayment: Responder = async (c) => {
      if (c.type === 'ChargePayment') {
        await lateCapture;
      }
      return succeed(c);
    };
    const w = await world(slowPayment);
    await runtime(w, 300);
    await w.publishEvent(orderPlaced);
    await w.until('the saga ends rejected', async () => (await ended(w)) !== undefined);
    releaseCapture();
    await w.until('the late capture is refunded', () => w.received.some((c) => c.type === 'RefundPayment'));

    expect(await ended(w)).toMatchObject({ status: 'rejected', flags: ['paymentTimedOut'] });
    const refund = w.received.find((c) => c.type === 'RefundPayment');
    expect(refund).toMatchObject({
      commandId: deterministicId(orderId, 'refundLateCapture', 'RefundPayment'),
      data: { orderId, reason: 'captured after the saga gave up: payment timed out' },
    });
    // Flagged refunded only once the payment service says so, not when the refund is sent.
    await w.until('the refund is confirmed', async () => ((await w.sagaEvents()).at(-1)?.data as { input?: { type: string } }).input?.type === 'PaymentRefunded');
    const [captured, refunded] = (await w.sagaEvents()).slice(-2).map((e) => e.data);
    expect(captured).toMatchObject({ input: { type: 'PaymentCaptured' }, from: 'rejected', to: 'rejected', flags: ['paymentTimedOut'] });
    expect(refunded).toMatchObject({ input: { type: 'PaymentRefunded' }, from: 'rejected', to: 'rejected', flags: ['paymentTimedOut', 'lateCaptureRefunded'] });
  });

  it('a dead-lettered refund of a late capture is loud (error log, metric, saga flag) and never flagged as done', async () => {
    let releaseCapture: () => void = () => undefined;
    const lateCapture = new Promise<void>((resolve) => (releaseCapture = resolve));
    const w = await world(
      async (c) => {
        if (c.type === 'ChargePayment') await lateCapture;
        if (c.type === 'RefundPayment') throw new Error('the receiver refused the refund');
        return succeed(c);
      },
      { retry: { maxAttempts: 1 } },
    );
    const errors: { obj: object; msg?: string }[] = [];
    const metrics = createMetrics('saga-test');
    runtimes.push(
      await startSagaRuntime({
        store: w.store,
        bus: w.bus,
        docs: w.docs,
        stepTimeoutMs: 300,
        timerTickMs: 20,
        metrics,
        log: { info() {}, warn() {}, error: (obj, msg) => errors.push({ obj, ...(msg === undefined ? {} : { msg }) }) },
      }),
    );
    await w.publishEvent(orderPlaced);
    await w.until('the saga ends rejected', async () => (await ended(w)) !== undefined);
    releaseCapture();
    const lastInput = async () => ((await w.sagaEvents()).at(-1)?.data as { input?: { type: string } }).input?.type;
    await w.until('the saga learns of the dead letter', async () => (await lastInput()) === 'CommandDeadLettered');

    const last = (await w.sagaEvents()).at(-1)!.data as unknown as { flags: string[]; context: { deadLetters: unknown[] } };
    expect(last.flags).toEqual(['paymentTimedOut', 'commandDeadLettered']);
    expect(last.context.deadLetters).toEqual([
      {
        step: 'refundLateCapture',
        commandId: deterministicId(orderId, 'refundLateCapture', 'RefundPayment'),
        error: 'Error: the receiver refused the refund',
        at: expect.any(String),
      },
    ]);
    expect(errors).toContainEqual({
      msg: 'saga: a command was dead-lettered',
      obj: expect.objectContaining({ orderId, step: 'refundLateCapture', type: 'RefundPayment', error: 'Error: the receiver refused the refund' }),
    });
    expect(await metrics.render()).toMatch(/saga_commands_dead_lettered_total\{type="RefundPayment",step="refundLateCapture",service="saga-test"\} 1/);
  });

  it('a cancellation while charging releases the stock and cancels the order', async () => {
    let cancelSent = false;
    const w = await world(async (c) => {
      if (c.type === 'ChargePayment') {
        if (!cancelSent) {
          cancelSent = true;
          await w.publishEvent(
            recorded('OrderCancellationRequested', streamIdFor.order(orderId), { orderId, requestedAt: new Date().toISOString() }, deterministicId('cancel', orderId), 'cancel-command'),
          );
        }
        return null; // the charge is still in flight when the customer cancels
      }
      return succeed(c);
    });
    await runtime(w);
    await w.publishEvent(orderPlaced);
    await w.until('the saga ends', async () => (await ended(w)) !== undefined);
    expect(await ended(w)).toMatchObject({ status: 'cancelled', flags: [] });
    expect(w.received.map((c) => c.type)).toEqual(['ReserveStock', 'ChargePayment', 'ReleaseStock', 'CancelOrder', 'SendEmail']);
  });

  it("writes another saga's input while a batch waits on its write, and a saga's next input after its own batch", async () => {
    const w = await world(() => null);
    const held = streamIdFor.saga(orderId);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    /** appendMany calls with the held saga's stream in them, and how many are under way. */
    let heldWrites = 0;
    let heldUnderWay = 0;
    let mostAtOnce = 0;
    const store = new Proxy(w.store, {
      get(target, prop) {
        if (prop === 'appendMany') {
          return async (appends: Parameters<NonNullable<EventStore['appendMany']>>[0]) => {
            if (!appends.some((a) => a.streamId === held)) return target.appendMany!(appends);
            heldWrites++;
            mostAtOnce = Math.max(mostAtOnce, ++heldUnderWay);
            try {
              if (heldWrites === 1) await gate;
              return await target.appendMany!(appends);
            } finally {
              heldUnderWay--;
            }
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const r = await startSagaRuntime({ store, bus: w.bus, docs: w.docs, stepTimeoutMs: 5_000, timerTickMs: 20 });
    runtimes.push(r);
    // Another saga whose OrderPlaced is on another partition (one partition's messages are handled in order).
    const partitionOf = (id: string) => partitionForKey(streamIdFor.order(id), 4);
    const other = ['ord-2', 'ord-3', 'ord-4', 'ord-5', 'ord-6', 'ord-7'].find((id) => partitionOf(id) !== partitionOf(orderId))!;
    const otherPlaced = {
      ...orderPlaced,
      eventId: deterministicId('place', other),
      streamId: streamIdFor.order(other),
      data: { ...orderPlaced.data, orderId: other },
      metadata: { ...orderPlaced.metadata, correlationId: other },
    } as RecordedEvent;

    await w.publishEvent(orderPlaced);
    await w.until('the first saga is being written', () => heldWrites === 1);
    // The held saga's next input (on another topic), and another saga's input, arrive meanwhile.
    await w.publishEvent(recorded('StockReserved', streamOf.StockReserved!, { orderId, items }, deterministicId('reserved', orderId), deterministicId(orderId, 'reserveStock', 'ReserveStock')));
    await w.publishEvent(otherPlaced);
    await w.until('the other saga is stored while the first write waits', async () => (await w.store.readStream(streamIdFor.saga(other))).length > 0);
    expect({ heldWrites, stored: (await w.sagaEvents()).length }).toEqual({ heldWrites: 1, stored: 0 });

    release();
    await w.until('the first saga is stored', async () => (await w.sagaEvents()).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await w.until('the reply is applied', async () => (await w.sagaEvents()).length > 1);
    // The reply waited for the saga's first write (before it, there was no saga to apply it to),
    // then was written on its own: in order, never two writes of one saga at once.
    expect((await w.sagaEvents()).map((e) => [e.type, (e.data as { to?: string; state?: string }).to ?? (e.data as { state?: string }).state])).toEqual([
      ['SagaStarted', 'reservingStock'],
      ['SagaTransitioned', 'chargingPayment'],
    ]);
    expect({ heldWrites, mostAtOnce }).toEqual({ heldWrites: 2, mostAtOnce: 1 });
  });
});
