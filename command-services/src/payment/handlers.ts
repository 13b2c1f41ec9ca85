/**
 * Payment command handlers. Signatures:
 *
 *   createPaymentHandlers(deps: PaymentHandlerDeps): PaymentHandlers
 *     deps = { store: EventStore; gateway: PaymentGateway; clock: () => Date; logger?: Logger; sleep?: Sleep;
 *              retry?: BackoffPolicy (gateway transient failures; default 4 tries, 50 ms doubling to 1 s);
 *              attempts?: OpenAttempts (the index of open charges) }
 *
 *   handleSagaCommand(envelope, { attemptRecorded? }): Promise<CommandOutcome<PaymentEvent>>
 *     ChargePayment -> PaymentAttemptStarted (before the provider is asked), then PaymentAuthorized +
 *     PaymentCaptured, or PaymentDeclined (card_declined, insufficient_funds,
 *     unknown_card, or gateway_unavailable once the retries run out). RefundPayment -> PaymentRefunded, only
 *     once and only if captured, after PaymentRefundStarted (recorded before the provider is asked). Commands of one order run one at a time (so the gateway is never asked
 *     twice), different orders concurrently.
 *
 *   reconcile(): every open attempt looked up at the provider by its key and its answer recorded.
 */
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { OrderId, PaymentId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { withGroupCommit } from '../shared/group-commit';
import { aggregateLoader, handleCommand, type CommandOutcome } from '../shared/command-handler';
import { ignore } from '../shared/decision';
import { createKeyedQueue } from '../shared/keyed-queue';
import { withBackoff, type BackoffPolicy } from '../shared/retry';
import { realSleep, silentLogger, type Clock, type Logger, type Sleep } from '../shared/runtime';
import { decide, precheck, type ChargeResult, type PaymentCommand } from './decide';
import { GatewayUnavailableError, ProviderUnreachableError, type PaymentGateway } from './gateway';
import { openAttemptIndex, type OpenAttempts } from './open-attempts';
import { evolve, initialState, type PaymentEvent, type PaymentState } from './state';

export interface PaymentHandlerDeps {
  store: EventStore;
  gateway: PaymentGateway;
  clock: Clock;
  logger?: Logger;
  sleep?: Sleep;
  retry?: BackoffPolicy;
  /** Open charge attempts; in memory by default (tests), `openAttemptIndex(DATA_DIR)` in the service. */
  attempts?: OpenAttempts;
}

export interface PaymentHandlers {
  /**
   * Resolves once the command is fully handled. `attemptRecorded` is called as soon as the charge
   * or refund is durably open, before the provider is asked: from then on a crash loses nothing.
   */
  handleSagaCommand(
    envelope: CommandEnvelope<'ChargePayment' | 'RefundPayment'>,
    hooks?: { attemptRecorded?: () => void },
  ): Promise<CommandOutcome<PaymentEvent>>;
  /** Settles every open charge or refund with the provider by its key (at start, and after a failure). */
  reconcile(): Promise<{ open: number; failed: number }>;
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
  // Each command reads only what its stream gained since the last one (command-handler.ts).
  const load = aggregateLoader(store, initialState, evolve);
  const perOrder = createKeyedQueue();
  const attempts = deps.attempts ?? openAttemptIndex();

  /** Authorize then capture, each retried on transient failures; a decline is an answer, not an error. */
  async function charge(envelope: CommandEnvelope<'ChargePayment'>): Promise<ChargeResult> {
    const { amount, currency, paymentToken } = envelope.data;
    const idempotencyKey = envelope.commandId;
    const authorized = await withBackoff(() => gateway.authorize({ token: paymentToken, amount, currency, idempotencyKey }), retry, sleep, isTransient);
    if (!authorized.ok) {
      if (authorized.error instanceof ProviderUnreachableError) {
        // The provider never answered, so there is no decline to record: the command fails (the consumer dead-letters it).
        authorized.error.attempts = authorized.attempts;
        throw authorized.error;
      }
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

  /** Refunds in full; the provider's idempotency key makes a repeated call (a reconciliation) refund once. */
  async function refund(state: Extract<PaymentState, { status: 'refunding' }>): Promise<void> {
    const { paymentId, amount, currency, idempotencyKey } = state;
    const refunded = await withBackoff(() => gateway.refund({ paymentId, amount, currency, idempotencyKey }), retry, sleep, isTransient);
    if (!refunded.ok) throw refunded.error;
  }

  const causationOf = (envelope: CommandEnvelope) => ({
    commandId: envelope.commandId,
    correlationId: envelope.metadata.correlationId,
    occurredAt: clock().toISOString(),
    ...(envelope.metadata.userId === undefined ? {} : { userId: envelope.metadata.userId }),
  });
  /** A charge's answer, after its attempt: the command id is already in the stream, so the decider judges. */
  const record = (streamId: string, command: PaymentCommand, causation: ReturnType<typeof causationOf>) =>
    handleCommand({
      store,
      load,
      streamId,
      initialState,
      evolve,
      decide: (state) => decide(command, state),
      causation: { ...causation, firstIndex: 1 },
      skipHandledCommands: false,
    });

  /**
   * A charge: the attempt is recorded (index row, then PaymentAttemptStarted) before the provider
   * is asked, and `attemptRecorded` is called then; the answer is recorded after. A crash in
   * between leaves an open attempt that `reconcile` settles with the provider by its key.
   */
  async function chargeOrder(envelope: CommandEnvelope<'ChargePayment'>, attemptRecorded: () => void): Promise<CommandOutcome<PaymentEvent>> {
    const orderId = envelope.data.orderId as OrderId;
    const { amount, currency } = envelope.data;
    const streamId = streamIdFor.payment(orderId);
    const before = await load(streamId);
    // Charging already under this command's key (a redelivery): resume it; the provider dedupes by key.
    if (before.state.status === 'charging' && before.state.idempotencyKey !== envelope.commandId) return ignore('AlreadyCharging');
    if (before.state.status !== 'charging') {
      if (before.handledCommands.has(envelope.commandId)) return ignore('AlreadyHandled');
      const skip = precheck('StartCharge', before.state);
      if (skip) return skip;
      attempts.open(orderId, envelope.commandId);
      const started = await handleCommand({
        store,
        load,
        streamId,
        loaded: before,
        initialState,
        evolve,
        decide: (state) => decide({ type: 'StartCharge', data: { orderId, amount, currency, idempotencyKey: envelope.commandId } }, state),
        causation: causationOf(envelope),
      });
      if (started.kind !== 'appended') {
        attempts.close(orderId);
        return started;
      }
    }
    attemptRecorded();
    let result: ChargeResult;
    try {
      result = await charge(envelope);
    } catch (error) {
      // Unreachable on every try: the provider never received the charge, so no money can have
      // moved and there is nothing to reconcile. A retried command resumes the attempt (same key).
      if (error instanceof ProviderUnreachableError) attempts.close(orderId);
      throw error;
    }
    const outcome = await record(streamId, { type: 'ChargePayment', data: { orderId, amount, currency, result } }, causationOf(envelope));
    attempts.close(orderId);
    return outcome;
  }

  /** A refund, recorded (PaymentRefundStarted) before the provider is asked, like a charge. */
  async function refundOrder(envelope: CommandEnvelope<'RefundPayment'>, attemptRecorded: () => void): Promise<CommandOutcome<PaymentEvent>> {
    const orderId = envelope.data.orderId as OrderId;
    const streamId = streamIdFor.payment(orderId);
    let loaded = await load(streamId);
    if (loaded.state.status !== 'refunding') {
      if (loaded.handledCommands.has(envelope.commandId)) return ignore('AlreadyHandled');
      const skip = precheck('StartRefund', loaded.state);
      if (skip) return skip;
      attempts.open(orderId, envelope.commandId);
      const started = await handleCommand({
        store,
        load,
        streamId,
        loaded,
        initialState,
        evolve,
        decide: (state) => decide({ type: 'StartRefund', data: { orderId, reason: envelope.data.reason, idempotencyKey: envelope.commandId } }, state),
        causation: causationOf(envelope),
      });
      if (started.kind !== 'appended') {
        attempts.close(orderId);
        return started;
      }
      loaded = await load(streamId);
    }
    attemptRecorded();
    const state = loaded.state;
    if (state.status !== 'refunding') throw new Error(`payment ${orderId} is ${state.status}, not refunding`);
    await refund(state);
    const outcome = await record(streamId, { type: 'RefundPayment', data: { orderId, reason: state.reason } }, causationOf(envelope));
    attempts.close(orderId);
    return outcome;
  }

  /** What the provider did with an open attempt, as the answer the charge would have got. */
  async function answerOf(idempotencyKey: string, amount: number, currency: string): Promise<ChargeResult> {
    const found = await gateway.findCharge(idempotencyKey);
    switch (found.status) {
      case 'captured':
        return { outcome: 'captured', paymentId: found.paymentId as PaymentId, attempts: 1 };
      case 'authorized': {
        // Authorized but never captured: finish the charge; the saga keeps or refunds it.
        const captured = await withBackoff(() => gateway.capture({ paymentId: found.paymentId, amount, currency, idempotencyKey }), retry, sleep, isTransient);
        if (!captured.ok) throw captured.error;
        return { outcome: 'captured', paymentId: found.paymentId as PaymentId, attempts: 1 };
      }
      case 'declined':
        return { outcome: 'declined', reason: found.reason, message: found.message, attempts: 1 };
      case 'unknown':
        // The provider never got the request (the simulated one dies with this process): no money moved.
        return { outcome: 'declined', reason: 'gateway_unavailable', message: 'the charge was interrupted before the provider received it', attempts: 1 };
      default: {
        const unreachable: never = found;
        throw new Error(`unknown lookup ${String(unreachable)}`);
      }
    }
  }

  async function reconcileOrder(orderId: OrderId, idempotencyKey: string): Promise<CommandOutcome<PaymentEvent>> {
    const streamId = streamIdFor.payment(orderId);
    const { state } = await load(streamId);
    if (state.status === 'refunding') {
      await refund(state);
      const outcome = await record(
        streamId,
        { type: 'RefundPayment', data: { orderId, reason: state.reason } },
        { commandId: state.idempotencyKey, correlationId: orderId, occurredAt: clock().toISOString() },
      );
      attempts.close(orderId);
      logger('warn', 'reconciled an open refund', { correlationId: orderId, commandId: idempotencyKey });
      return outcome;
    }
    if (state.status !== 'charging') {
      attempts.close(orderId);
      return ignore('NothingOpen');
    }
    const result = await answerOf(state.idempotencyKey, state.amount, state.currency);
    const outcome = await record(
      streamId,
      { type: 'ChargePayment', data: { orderId, amount: state.amount, currency: state.currency, result } },
      // Caused by the command that opened the attempt, as the charge itself would have been.
      { commandId: state.idempotencyKey, correlationId: orderId, occurredAt: clock().toISOString() },
    );
    attempts.close(orderId);
    logger('warn', `reconciled an open charge: ${result.outcome}`, { correlationId: orderId, commandId: idempotencyKey });
    return outcome;
  }

  const logged = (envelope: CommandEnvelope, outcome: CommandOutcome<PaymentEvent>) => {
    logger('info', `${envelope.type}: ${outcome.kind}`, {
      correlationId: envelope.metadata.correlationId,
      commandId: envelope.commandId,
      ...(outcome.kind === 'appended' ? { events: outcome.events.map((e) => e.type) } : {}),
      ...(outcome.kind === 'ignored' ? { reason: outcome.reason } : {}),
    });
    return outcome;
  };

  return {
    handleSagaCommand(envelope, hooks = {}) {
      const attemptRecorded = hooks.attemptRecorded ?? (() => {});
      return perOrder.run(envelope.data.orderId, async () =>
        logged(
          envelope,
          envelope.type === 'ChargePayment'
            ? await chargeOrder(envelope as CommandEnvelope<'ChargePayment'>, attemptRecorded)
            : await refundOrder(envelope as CommandEnvelope<'RefundPayment'>, attemptRecorded),
        ),
      );
    },
    async reconcile() {
      const open = attempts.list();
      const settled = await Promise.allSettled(
        open.map(({ orderId, idempotencyKey }) => perOrder.run(orderId, () => reconcileOrder(orderId as OrderId, idempotencyKey))),
      );
      const failed = settled.filter((s) => s.status === 'rejected');
      for (const f of failed) logger('error', 'reconciling an open charge failed; tried again later', { error: String((f as PromiseRejectedResult).reason) });
      return { open: open.length, failed: failed.length };
    },
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 500);
