import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SagaOperatorInput, sagaOperatorTopic } from '@saga/event-schemas/saga';
import { commandTopics, deadLetterTopic } from '@saga/event-schemas/streams';
import type { BusMessage, Consumer } from '@saga/platform/message-bus/port';
import { startSagaRuntime, type SagaRuntime } from './runtime';
import { stackProbes, until } from './stack-probes.fixture';
import { startEmbeddedStack, testCards, type EmbeddedStack } from './embedded-stack.fixture';

/**
 * Test card 4000000000000341 (provider unreachable on every try) on the whole embedded stack,
 * and an operator's actions reaching the saga as inputs. The step timeout is long, so the saga
 * waits on its charge while the operator acts: nothing here races a deadline.
 */
const stepTimeoutMs = 60_000;

describe('a stuck payment and the operator, on the whole embedded stack', () => {
  let stack: EmbeddedStack;
  let saga: SagaRuntime;
  let watcher: Consumer | undefined;
  const deadLetters: BusMessage[] = [];
  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-operator-'));
    stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, fastRetries: true });
    saga = await startSagaRuntime({ store: stack.store, bus: stack.bus, docs: stack.docs, stepTimeoutMs, timerTickMs: 50 });
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: 10 });
    const dlq = deadLetterTopic(commandTopics.payment);
    await stack.bus.createTopics([{ name: dlq }]);
    watcher = await stack.bus.consume({ groupId: 'test-dead-letter-watch', topics: [dlq], handler: async (m) => void deadLetters.push(m) });
  });
  afterAll(async () => {
    await watcher?.stop();
    await saga?.stop();
    await stack?.close();
  });

  const { sagaOf, ending, paymentEvents, stockHeldBy } = stackProbes(() => stack.store);
  const lastTransition = async (orderId: string) =>
    (await sagaOf(orderId)).filter((e) => e.type === 'SagaTransitioned').at(-1)?.data as { to: string; stuck?: unknown; input: { type: string; event?: Record<string, unknown> } } | undefined;
  const deadLettersFor = async (orderId: string) => deadLetters.filter((m) => m.key === orderId);
  const act = (orderId: string, action: 'retry-step' | 'compensate', requestId: string) =>
    stack.bus.publish(sagaOperatorTopic, [
      {
        key: orderId,
        value: JSON.stringify(SagaOperatorInput.parse({ kind: 'action', requestId, orderId, action, operator: 'admin-7', reason: `ticket ${requestId}`, at: new Date().toISOString() })),
      },
    ]);

  it('4000000000000341: retried with backoff, dead-lettered with its order id; the saga is stuck; a retry fails again; compensate ends it', async () => {
    const orderId = 'card-unreachable';
    await stack.place({ orderId, card: testCards.unreachable, items: [{ sku: 'MUG-001', quantity: 1 }] });
    const stuck = await until('the saga to be stuck on its charge', async () => {
      const last = await lastTransition(orderId);
      return last?.stuck ? last : undefined;
    });
    expect(stuck).toMatchObject({ to: 'chargingPayment', stuck: { step: 'chargePayment', reason: 'dead-lettered' }, input: { type: 'CommandDeadLettered' } });
    const [first] = await deadLettersFor(orderId);
    expect(first!.headers).toMatchObject({ 'dlq-original-topic': 'commands.payment', 'dlq-group': 'payment-service', 'dlq-attempts': '3' });
    expect(JSON.parse(first!.value)).toMatchObject({ type: 'ChargePayment', metadata: { correlationId: orderId } });
    // The provider never answered: the payment stream holds the attempt only, no decline.
    expect(await paymentEvents(orderId)).toEqual(['PaymentAttemptStarted']);

    await act(orderId, 'retry-step', 'r1');
    await until('the retry to be dead-lettered anew', async () => ((await deadLettersFor(orderId)).length === 2 ? true : undefined));
    await until('the saga to be stuck again', async () => {
      const last = await lastTransition(orderId);
      return last?.input.type === 'CommandDeadLettered' && last.stuck ? true : undefined;
    });
    const inputs = (await sagaOf(orderId)).flatMap((e) => (e.type === 'SagaTransitioned' ? [(e.data as { input: { type: string; event?: Record<string, unknown> } }).input] : []));
    expect(inputs.map((i) => i.type)).toEqual(['StockReserved', 'CommandDeadLettered', 'OperatorActed', 'CommandDeadLettered']);
    expect(inputs[2]!.event).toMatchObject({ action: 'retry-step', operator: 'admin-7', reason: 'ticket r1' });

    await act(orderId, 'compensate', 'c1');
    expect(await ending(orderId)).toEqual(expect.objectContaining({ status: 'rejected', flags: ['commandDeadLettered', 'compensatedByOperator'] }));
    expect(await stockHeldBy(orderId)).toEqual(['StockReserved', 'StockReleased']);
    expect(stack.gateway.ledger()).toEqual({ captured: 0, refunded: 0 });
  });
});
