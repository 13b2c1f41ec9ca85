import type { CommandEnvelope } from '@saga/event-schemas/commands';
import { commandTopics, deadLetterTopic } from '@saga/event-schemas/streams';
import { deadLetterMessage } from '@saga/platform/message-bus/delivery';
import type { BusMessage, Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import { ProviderUnreachableError } from './gateway';
import { consumeCommands } from '../shared/command-consumer';
import { silentLogger, type Logger } from '../shared/runtime';
import type { PaymentHandlers } from './handlers';

export interface PaymentConsumerDeps {
  bus: MessageBus;
  handlers: PaymentHandlers;
  logger?: Logger;
  groupId?: string;
  retry?: Partial<RetryPolicy>;
  /** After a charge failed in the background, how soon its open attempt is reconciled. Default 1000. */
  reconcileAfterFailureMs?: number;
}

export interface PaymentConsumer extends Consumer {
  /** Commands still running in the background. */
  readonly inFlight: number;
}

/**
 * The payment service's commands: charge and refund. A command holds its partition only until its
 * attempt is recorded (PaymentAttemptStarted or PaymentRefundStarted, before the provider is
 * asked): its offset is then committed and the provider call goes on in the background, so one
 * order's slow card never holds back the orders behind it (whose payment step would time out
 * meanwhile). A crash during that call loses nothing: the attempt is open, and `reconcile` (run
 * at start) settles it with the provider by its idempotency key and records the answer.
 * A redelivery of a command still running is dropped here; one that finished is a no-op in the
 * handler (the stream holds its id).
 */
export async function startPaymentConsumer(deps: PaymentConsumerDeps): Promise<PaymentConsumer> {
  const logger = deps.logger ?? silentLogger;
  const reconcileAfterMs = deps.reconcileAfterFailureMs ?? 1_000;
  const running = new Map<string, Promise<unknown>>();
  let stopping = false;
  let reconcileTimer: NodeJS.Timeout | undefined;

  const reconcile = () => {
    const work = deps.handlers
      .reconcile()
      .then(({ open, failed }) => {
        if (open > 0) logger('info', `reconciled ${open - failed} of ${open} open charges`);
        if (failed > 0) reconcileLater();
      })
      .catch((error: unknown) => {
        logger('error', 'reconciling open charges failed', { error: error instanceof Error ? error.message : String(error) });
        reconcileLater();
      });
    running.set('reconcile', work);
    void work.finally(() => running.get('reconcile') === work && running.delete('reconcile'));
  };
  function reconcileLater(): void {
    if (stopping || reconcileTimer) return;
    reconcileTimer = setTimeout(() => {
      reconcileTimer = undefined;
      if (!stopping) reconcile();
    }, reconcileAfterMs);
  }

  async function handle(envelope: CommandEnvelope<'ChargePayment' | 'RefundPayment'>): Promise<void> {
    if (running.has(envelope.commandId)) return;
    let released: () => void = () => {};
    const release = new Promise<'released'>((resolve) => (released = () => resolve('released')));
    const work = deps.handlers
      .handleSagaCommand(envelope, { attemptRecorded: released })
      .finally(() => running.delete(envelope.commandId));
    running.set(envelope.commandId, work);
    // Rejects (and the bus retries) only if the command failed before it was let go.
    if ((await Promise.race([work.then(() => 'done' as const), release])) === 'released') {
      work.catch(async (error: unknown) => {
        if (error instanceof ProviderUnreachableError) return deadLetter(envelope, error);
        logger('error', `${envelope.type} failed in the background`, {
          correlationId: envelope.metadata.correlationId,
          commandId: envelope.commandId,
          error: error instanceof Error ? error.message : String(error),
        });
        // The attempt stays open: settle it with the provider soon, not only at the next start.
        reconcileLater();
      });
    }
  }

  /**
   * A command the provider could not be reached for, on every try: dead-lettered as the bus would
   * have (the command had already been let go of its partition), so it is listed for operators,
   * the saga sees it, and retrying it redelivers it here.
   */
  async function deadLetter(envelope: CommandEnvelope, error: ProviderUnreachableError): Promise<void> {
    const topic = commandTopics.payment;
    const original: BusMessage = { topic, partition: -1, offset: -1, key: envelope.metadata.correlationId, value: JSON.stringify(envelope), headers: {}, timestamp: Date.now() };
    logger('error', `${envelope.type}: the provider was unreachable on every try; dead-lettered`, {
      correlationId: envelope.metadata.correlationId,
      commandId: envelope.commandId,
      attempts: error.attempts,
    });
    try {
      await deps.bus.publish(deadLetterTopic(topic), [deadLetterMessage(original, error, error.attempts, Date.now(), deps.groupId ?? 'payment-service')]);
    } catch (publishError) {
      logger('error', 'dead-lettering a payment command failed', { commandId: envelope.commandId, error: String(publishError) });
    }
  }

  // Attempts a crash left open: asked of the provider while new commands flow (one order at a time).
  reconcile();
  const consumer = await consumeCommands({
    bus: deps.bus,
    topic: commandTopics.payment,
    groupId: deps.groupId ?? 'payment-service',
    accepts: ['ChargePayment', 'RefundPayment'],
    handle,
    logger,
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
  });

  return {
    get inFlight() {
      return running.size;
    },
    async stop() {
      stopping = true;
      clearTimeout(reconcileTimer);
      await consumer.stop();
      // Let background work finish so its outcome is recorded before shutdown.
      await Promise.allSettled([...running.values()]);
    },
  };
}
