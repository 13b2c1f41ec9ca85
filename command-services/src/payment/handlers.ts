/**
 * Payment command handlers. Signatures:
 *
 *   createPaymentHandlers(deps: PaymentHandlerDeps): PaymentHandlers
 *     deps = { store: EventStore; gateway: PaymentGateway; clock: () => Date; logger?: Logger; sleep?: Sleep;
 *              retry?: BackoffPolicy (gateway transient failures; default 4 tries, 50 ms doubling to 1 s) }
 *
 *   handleSagaCommand(envelope: CommandEnvelope<'ChargePayment' | 'RefundPayment'>): Promise<CommandOutcome<PaymentEvent>>
 *     ChargePayment -> PaymentAuthorized + PaymentCaptured, or PaymentDeclined (card_declined, insufficient_funds,
 *     unknown_card, or gateway_unavailable once the retries run out). RefundPayment -> PaymentRefunded, only
 *     once and only if captured. Commands of one order run one at a time (so the gateway is never asked
 *     twice), different orders concurrently.
 */
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { OrderId, PaymentId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { withGroupCommit } from '../shared/group-commit';
import { handleCommand, loadAggregate, type CommandOutcome } from '../shared/command-handler';
import { ignore } from '../shared/decision';
import { createKeyedQueue } from '../shared/keyed-queue';
import { withBackoff, type BackoffPolicy } from '../shared/retry';
import { realSleep, silentLogger, type Clock, type Logger, type Sleep } from '../shared/runtime';
import { decide, precheck, type ChargeResult, type PaymentCommand } from './decide';
import { GatewayUnavailableError, type PaymentGateway } from './gateway';
import { evolve, initialState, type PaymentEvent, type PaymentState } from './state';

export interface PaymentHandlerDeps {
  store: EventStore;
  gateway: PaymentGateway;
  clock: Clock;
  logger?: Logger;
  sleep?: Sleep;
  retry?: BackoffPolicy;
}

export interface PaymentHandlers {
  handleSagaCommand(envelope: CommandEnvelope<'ChargePayment' | 'RefundPayment'>): Promise<CommandOutcome<PaymentEvent>>;
}

export const defaultGatewayRetry: BackoffPolicy = { maxAttempts: 4, initialDelayMs: 50, maxDelayMs: 1_000 };

const isTransient = (error: unknown) => error instanceof GatewayUnavailableError;

export function createPaymentHandlers(deps: PaymentHandlerDeps): PaymentHandlers {
  const { gateway, clock } = deps;
  // Concurrent commands (a bus batch's) share a commit.
  const store = withGroupCommit(deps.store);
  const logger = deps.logger ?? silentLogger;
  const sleep = deps.sleep ?? realSleep;
  const retry = deps.retry ?? defaultGatewayRetry;
  const perOrder = createKeyedQueue();

  /** Authorize then capture, each retried on transient failures; a decline is an answer, not an error. */
  async function charge(envelope: CommandEnvelope<'ChargePayment'>): Promise<ChargeResult> {
    const { amount, currency, paymentToken } = envelope.data;
    const idempotencyKey = envelope.commandId;
    const authorized = await withBackoff(() => gateway.authorize({ token: paymentToken, amount, currency, idempotencyKey }), retry, sleep, isTransient);
    if (!authorized.ok) {
      if (!isTransient(authorized.error)) throw authorized.error;
      return { outcome: 'declined', reason: 'gateway_unavailable', message: messageOf(authorized.error), attempts: authorized.attempts };
    }
    const answer = authorized.value;
    if (answer.status === 'declined') {
      return { outcome: 'declined', reason: answer.reason, message: answer.message, attempts: authorized.attempts };
    }
    const captured = await withBackoff(() => gateway.capture({ paymentId: answer.paymentId, amount, currency, idempotencyKey }), retry, sleep, isTransient);
    if (!captured.ok) {
      if (!isTransient(captured.error)) throw captured.error;
      return { outcome: 'declined', reason: 'gateway_unavailable', message: `capture failed: ${messageOf(captured.error)}`, attempts: authorized.attempts };
    }
    return { outcome: 'captured', paymentId: answer.paymentId as PaymentId, attempts: authorized.attempts };
  }

  async function refund(envelope: CommandEnvelope<'RefundPayment'>, state: PaymentState): Promise<void> {
    if (state.status !== 'captured') return;
    const { paymentId, amount, currency } = state;
    const refunded = await withBackoff(
      () => gateway.refund({ paymentId, amount, currency, idempotencyKey: envelope.commandId }),
      retry,
      sleep,
      isTransient,
    );
    // A refund that cannot be made now fails the command, so the bus retries it (and dead-letters it at last).
    if (!refunded.ok) throw refunded.error;
  }

  async function handle(envelope: CommandEnvelope<'ChargePayment' | 'RefundPayment'>): Promise<CommandOutcome<PaymentEvent>> {
    const orderId = envelope.data.orderId as OrderId;
    const streamId = streamIdFor.payment(orderId);
    const before = await loadAggregate(store, streamId, initialState, evolve);
    if (before.handledCommands.has(envelope.commandId)) return ignore('AlreadyHandled');
    const skip = precheck(envelope.type, before.state);
    if (skip) return skip;

    let command: PaymentCommand;
    if (envelope.type === 'ChargePayment') {
      const { amount, currency } = (envelope as CommandEnvelope<'ChargePayment'>).data;
      command = { type: 'ChargePayment', data: { orderId, amount, currency, result: await charge(envelope as CommandEnvelope<'ChargePayment'>) } };
    } else {
      await refund(envelope as CommandEnvelope<'RefundPayment'>, before.state);
      command = { type: 'RefundPayment', data: { orderId, reason: (envelope as CommandEnvelope<'RefundPayment'>).data.reason } };
    }
    return handleCommand({
      store,
      streamId,
      loaded: before,
      initialState,
      evolve,
      decide: (state) => decide(command, state),
      causation: {
        commandId: envelope.commandId,
        correlationId: envelope.metadata.correlationId,
        occurredAt: clock().toISOString(),
        ...(envelope.metadata.userId === undefined ? {} : { userId: envelope.metadata.userId }),
      },
    });
  }

  return {
    handleSagaCommand(envelope) {
      return perOrder.run(envelope.data.orderId, async () => {
        const outcome = await handle(envelope);
        logger('info', `${envelope.type}: ${outcome.kind}`, {
          correlationId: envelope.metadata.correlationId,
          commandId: envelope.commandId,
          ...(outcome.kind === 'appended' ? { events: outcome.events.map((e) => e.type) } : {}),
          ...(outcome.kind === 'ignored' ? { reason: outcome.reason } : {}),
        });
        return outcome;
      });
    },
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 500);
