import { afterEach, describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { OrderId, Sku } from '@saga/event-schemas/ids';
import { commandTopics, deadLetterTopic, streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { deterministicId } from '@saga/platform/ids';
import type { BusMessage, Consumer, MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { composeServices } from '../../../app/compose';
import { envelopeOf, fixedClock, tempDataDir } from './test-support';

const clock = fixedClock();
const retry = { maxAttempts: 2, initialBackoffMs: 5, maxBackoffMs: 10 };
let closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.reverse()) await close();
  closing = [];
});

async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function system() {
  const dataDir = tempDataDir('consumers');
  const store = await openSqliteEventStore({ dataDir });
  const bus = await openSqliteMessageBus({ dataDir });
  closing.push(() => store.close(), () => bus.close());
  // One partition for payments, so a slow charge and the order behind it share it.
  await bus.createTopics([{ name: commandTopics.payment, partitions: 1 }]);
  // The app's composition, with a fixed clock, a shorter `late` card and no waiting between mail retries.
  const services = composeServices(
    { store, bus },
    { stepTimeoutMs: 30_000, clock, provider: { lateAnswerMs: 1_500 }, emailSleep: async () => {}, busRetry: retry },
  );
  closing.push(async () => services.close());
  const { inventory, order: orders } = services.handlers;
  const gateway = services.provider;
  const consumers: Consumer[] = [];
  for (const service of ['order', 'inventory', 'payment', 'email'] as const) consumers.push(await services.consumers[service]());
  closing.push(async () => void (await Promise.all(consumers.map((c) => c.stop()))));
  await inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1250, currency: 'EUR', stock: 10 });
  return { store, bus, gateway, orders };
}

const send = (bus: MessageBus, topic: string, envelopes: CommandEnvelope[]) =>
  bus.publish(
    topic,
    envelopes.map((e) => ({ key: (e.data as { orderId: string }).orderId, value: JSON.stringify(e) })),
  );

const typesIn = async (store: EventStore, streamId: string) => (await store.readStream(streamId)).map((e) => e.type);

describe('command consumers on the embedded bus and store', () => {
  it('each service answers its command topic, and a redelivered command appends nothing', async () => {
    const { store, bus, gateway, orders } = await system();
    const { orderId } = await orders.placeOrder({ customer: { id: 'alice', email: 'alice@example.com' }, items: [{ sku: 'MUG-001' as Sku, quantity: 2 }], payment: { token: 'x', last4: '4242' } });
    const id = orderId as OrderId;
    const { token } = await gateway.tokenize({ number: '4242424242424242' });
    const reserve = envelopeOf('ReserveStock', { orderId: id, items: [{ sku: 'MUG-001' as Sku, quantity: 2 }] });
    const charge = envelopeOf('ChargePayment', { orderId: id, amount: 2500, currency: 'EUR', paymentToken: token });
    const confirm = envelopeOf('ConfirmOrder', { orderId: id });
    const email = envelopeOf('SendEmail', { orderId: id, to: 'alice@example.com', template: 'order-confirmed', data: { orderId: id, total: 2500, currency: 'EUR' } });
    // Every command twice: at-least-once delivery.
    await send(bus, commandTopics.inventory, [reserve, reserve]);
    await send(bus, commandTopics.payment, [charge, charge]);
    await send(bus, commandTopics.order, [confirm, confirm]);
    await send(bus, commandTopics.email, [email, email]);

    await until(async () => (await typesIn(store, streamIdFor.email(orderId))).length > 0, 'the email');
    await until(async () => (await typesIn(store, streamIdFor.payment(orderId))).length > 0, 'the charge');
    await until(async () => (await typesIn(store, streamIdFor.order(orderId))).length > 1, 'the confirmation');
    await until(async () => (await bus.lag('inventory-service')).every((p) => p.lag === 0) && (await bus.lag('order-service')).every((p) => p.lag === 0), 'the duplicates');
    await until(async () => (await bus.lag('payment-service')).every((p) => p.lag === 0) && (await bus.lag('email-service')).every((p) => p.lag === 0), 'the duplicates');

    expect(await typesIn(store, streamIdFor.order(orderId))).toEqual(['OrderPlaced', 'OrderConfirmed']);
    expect(await typesIn(store, streamIdFor.payment(orderId))).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
    expect(await typesIn(store, streamIdFor.email(orderId))).toEqual(['EmailSent']);
    const warehouse = await store.readStream(streamIdFor.inventory());
    expect(warehouse.filter((e) => e.metadata.correlationId === orderId).map((e) => e.type)).toEqual(['StockReserved']);
    expect(gateway.ledger()).toEqual({ captured: 2500, refunded: 0 });
  });

  it('a malformed or misrouted command goes to the dead-letter topic and does not block what follows', async () => {
    const { store, bus, orders } = await system();
    const { orderId } = await orders.placeOrder({ customer: { id: 'alice', email: 'alice@example.com' }, items: [{ sku: 'MUG-001' as Sku, quantity: 1 }], payment: { token: 'x', last4: '4242' } });
    await bus.publish(commandTopics.order, [
      { key: orderId, value: '{not json' },
      { key: orderId, value: JSON.stringify(envelopeOf('ReserveStock', { orderId: orderId as OrderId, items: [{ sku: 'MUG-001' as Sku, quantity: 1 }] })) },
      { key: orderId, value: JSON.stringify({ ...envelopeOf('ConfirmOrder', { orderId: orderId as OrderId }), data: { orderId: { $gt: '' } } }) },
      { key: orderId, value: JSON.stringify(envelopeOf('RejectOrder', { orderId: orderId as OrderId, reason: 'out of stock' }, deterministicId('reject'))) },
    ]);
    await until(async () => (await typesIn(store, streamIdFor.order(orderId))).includes('OrderRejected'), 'the rejection behind the poison');
    await until(async () => (await bus.lag('order-service')).every((p) => p.lag === 0), 'the order topic drained');
    // Read the dead letters once they are written: the embedded bus does not wake a consumer of
    // the DLQ topic on a dead letter written by the same connection (reported to its owner).
    const dead: BusMessage[] = [];
    const dlq = await bus.consume({ groupId: 'dlq-watch', topics: [deadLetterTopic(commandTopics.order)], handler: async (m) => void dead.push(m) });
    closing.push(() => dlq.stop());
    await until(async () => dead.length === 3, 'three dead letters');
    expect(dead.map((m) => m.headers['dlq-error'])).toEqual([
      expect.stringMatching(/^UnhandledCommandError: malformed command/),
      'UnhandledCommandError: commands.order does not handle ReserveStock',
      expect.stringMatching(/^UnhandledCommandError: malformed command/),
    ]);
  });

  it('a slow charge does not hold back the next order on its partition', async () => {
    const { store, bus, gateway } = await system();
    const slowToken = (await gateway.tokenize({ number: '4000000000000259' })).token;
    const fastToken = (await gateway.tokenize({ number: '4242424242424242' })).token;
    const started = Date.now();
    await send(bus, commandTopics.payment, [
      envelopeOf('ChargePayment', { orderId: 'slow-1' as OrderId, amount: 100, currency: 'EUR', paymentToken: slowToken }),
      envelopeOf('ChargePayment', { orderId: 'fast-1' as OrderId, amount: 100, currency: 'EUR', paymentToken: fastToken }),
    ]);
    // The slow charge holds its partition only until its attempt is recorded (no 2 s hold).
    await until(async () => (await typesIn(store, streamIdFor.payment('fast-1'))).includes('PaymentCaptured'), 'the fast charge');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await typesIn(store, streamIdFor.payment('slow-1'))).toEqual(['PaymentAttemptStarted']);
    await until(async () => (await typesIn(store, streamIdFor.payment('slow-1'))).includes('PaymentCaptured'), 'the late capture');
    expect(await typesIn(store, streamIdFor.payment('slow-1'))).toEqual(['PaymentAttemptStarted', 'PaymentAuthorized', 'PaymentCaptured']);
  });
});
