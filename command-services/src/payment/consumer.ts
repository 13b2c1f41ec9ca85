import type { CommandEnvelope } from '@saga/event-schemas/commands';
import { commandTopics } from '@saga/event-schemas/streams';
import type { Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import { consumeCommands } from '../shared/command-consumer';
import { silentLogger, type Logger } from '../shared/runtime';
import type { PaymentHandlers } from './handlers';

export interface PaymentConsumerDeps {
  bus: MessageBus;
  handlers: PaymentHandlers;
  logger?: Logger;
  groupId?: string;
  retry?: Partial<RetryPolicy>;
  /**
   * How long a command may hold its partition. A charge still running after this (a slow
   * gateway) goes on in the background, and the partition moves on to other orders. Default 2000.
   */
  holdPartitionMs?: number;
}

export interface PaymentConsumer extends Consumer {
  /** Commands still running in the background. */
  readonly inFlight: number;
}

/**
 * The payment service's commands: charge and refund. Most finish within `holdPartitionMs` and
 * commit their offset only then (at-least-once). A slower one is detached: its offset is
 * committed while it runs, so that one order's slow gateway call never holds back the
 * orders behind it. If the process dies meanwhile, the saga's payment step timeout treats
 * the charge as failed and compensates, and the gateway's idempotency key (the command id)
 * keeps a re-sent command from charging twice. A redelivery of a command still running is
 * dropped here; one that finished is a no-op in the handler (the stream holds its id).
 */
export async function startPaymentConsumer(deps: PaymentConsumerDeps): Promise<PaymentConsumer> {
  const logger = deps.logger ?? silentLogger;
  const holdMs = deps.holdPartitionMs ?? 2_000;
  const running = new Map<string, Promise<unknown>>();

  async function handle(envelope: CommandEnvelope<'ChargePayment' | 'RefundPayment'>): Promise<void> {
    if (running.has(envelope.commandId)) return;
    const work = deps.handlers.handleSagaCommand(envelope).finally(() => running.delete(envelope.commandId));
    running.set(envelope.commandId, work);
    let timer: NodeJS.Timeout | undefined;
    const held = new Promise<'held'>((resolve) => {
      timer = setTimeout(() => resolve('held'), holdMs);
    });
    try {
      if ((await Promise.race([work.then(() => 'done' as const), held])) === 'held') {
        logger('info', `${envelope.type} still running, continuing in the background`, {
          correlationId: envelope.metadata.correlationId,
          commandId: envelope.commandId,
        });
        work.catch((error: unknown) =>
          logger('error', `${envelope.type} failed in the background`, {
            correlationId: envelope.metadata.correlationId,
            commandId: envelope.commandId,
            error: error instanceof Error ? error.message : String(error),
          }),
        );
      }
    } finally {
      clearTimeout(timer);
    }
  }

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
      await consumer.stop();
      // Let background charges finish so their outcome is recorded before shutdown.
      await Promise.allSettled([...running.values()]);
    },
  };
}
