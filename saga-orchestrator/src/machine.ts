import { setup, enqueueActions, type SnapshotFrom } from 'xstate';
import type { SagaCommand } from '@saga/event-schemas/commands';
import type { LineItem, OrderId } from '@saga/event-schemas/ids';
import { stepNamed, type OrderFacts, type StepName } from './steps';

/**
 * The order saga as an XState v5 machine. It is pure: it never sends anything, it *emits*
 * `command` events that the runtime (runtime.ts) persists and then dispatches, using
 * xstate's pure `initialTransition` / `transition`.
 *
 * Timeouts are data, not xstate `after` timers (those are not persisted, statelyai/xstate#4860):
 * a waiting state stores its deadline in `context.timer`; the runtime keeps the deadlines in
 * a durable index and sends `StepTimedOut` when one is due. Every input carries its time
 * (`at`), so the machine never reads a clock.
 *
 * The ended states (completed, rejected, cancelled) are not xstate `final` states: they must
 * still answer a success that arrives late (a capture after the saga was cancelled is refunded).
 */

/**
 * `at`: when the saga applies the input (deadlines count from it). `recordedAt`: when a service
 * recorded its reply; a reply is judged in time or late by it, never by when it is applied, so
 * a reply that waited on the bus (a restart, a lagging consumer) is not lost to the timer.
 */
type At = { at: string; recordedAt?: string };
export type SagaEvent =
  | ({ type: 'StockReserved' } & At)
  | ({ type: 'StockReservationFailed'; reason: string } & At)
  | ({ type: 'StockReleased' } & At)
  | ({ type: 'StockCommitted' } & At)
  | ({ type: 'PaymentCaptured'; paymentId: string } & At)
  | ({ type: 'PaymentDeclined'; reason: string } & At)
  | ({ type: 'PaymentRefunded' } & At)
  | ({ type: 'OrderConfirmed' } & At)
  | ({ type: 'OrderRejected' } & At)
  | ({ type: 'OrderCancelled' } & At)
  | ({ type: 'OrderCancellationRequested'; reason?: string } & At)
  | ({ type: 'EmailSent' } & At)
  | ({ type: 'EmailFailed'; error: string } & At)
  | ({ type: 'StepTimedOut'; step: StepName } & At)
  /** A command the saga issued was dead-lettered by its receiver: its effect did not happen. */
  | ({ type: 'CommandDeadLettered'; step: StepName; commandId: string; error: string } & At);
export type SagaEventType = SagaEvent['type'];

/** What the machine emits: one command for the runtime to send, tagged with its step. */
export interface CommandIssued {
  type: 'command';
  step: StepName;
  command: SagaCommand;
}

export interface SagaTimer {
  step: StepName;
  dueAt: string;
}

export type SagaFlag =
  | 'emailFailed'
  | 'emailTimedOut'
  | 'stockReservationTimedOut'
  | 'paymentTimedOut'
  | 'lateReservationReleased'
  | 'lateCaptureRefunded'
  | 'commandDeadLettered';

/** A command of this saga that its receiver dead-lettered, kept for operators. */
export interface DeadLetteredCommand {
  step: StepName;
  commandId: string;
  error: string;
  at: string;
}

export interface SagaInput {
  orderId: OrderId;
  customerEmail: string;
  items: LineItem[];
  total: number;
  currency: string;
  paymentToken: string;
  stepTimeoutMs: number;
  /** When the saga started (the OrderPlaced it answers): the first deadline counts from it. */
  startedAt: string;
}

export interface SagaContext extends OrderFacts {
  stepTimeoutMs: number;
  startedAt: string;
  /** A reservation arrived in time. Never reset: what was undone is told by the path taken. */
  stockReserved: boolean;
  /** The captured payment, once it arrived in time. Never reset, like `stockReserved`. */
  paymentId: string | null;
  /** After stock is released, go on to reject the order or to cancel it. */
  outcome: 'reject' | 'cancel' | null;
  timer: SagaTimer | null;
  /** How many times each waiting step's command was sent (retries after timeouts). */
  attempts: Partial<Record<StepName, number>>;
  flags: SagaFlag[];
  /**
   * A late capture's refund was sent; `lateCaptureRefunded` is flagged only once the payment
   * service confirms it (PaymentRefunded), so a refund that was dead-lettered is never shown as done.
   * Absent in sagas recorded before it existed (their flag was set when the refund was sent).
   */
  lateRefundRequested?: boolean;
  deadLetters?: DeadLetteredCommand[];
}

/** The time of the input being applied; the initial transition has none, so it is the start. */
function timeOf(context: SagaContext, event: { type: string }): string {
  return (event as Partial<At>).at ?? context.startedAt;
}

const addMs = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

function issue(step: StepName, context: SagaContext): CommandIssued {
  return { type: 'command', step, command: stepNamed(step).build(context) };
}

export const sagaMachine = setup({
  types: {} as {
    context: SagaContext;
    events: SagaEvent;
    input: SagaInput;
    emitted: CommandIssued;
  },
  actions: {
    /** Sends the step's command and arms its deadline. */
    startStep: enqueueActions(({ context, event, enqueue }, params: { step: StepName }) => {
      enqueue.emit(issue(params.step, context));
      enqueue.assign({
        timer: { step: params.step, dueAt: addMs(timeOf(context, event), context.stepTimeoutMs) },
        attempts: { ...context.attempts, [params.step]: 1 },
      });
    }),
    /** A step that cannot fail timed out: send the same command again (same id) and re-arm. */
    retryStep: enqueueActions(({ context, event, enqueue }) => {
      const step = context.timer?.step;
      if (!step) return;
      enqueue.emit(issue(step, context));
      enqueue.assign({
        timer: { step, dueAt: addMs(timeOf(context, event), context.stepTimeoutMs) },
        attempts: { ...context.attempts, [step]: (context.attempts[step] ?? 0) + 1 },
      });
    }),
    clearTimer: enqueueActions(({ enqueue }) => enqueue.assign({ timer: null })),
    recordReservation: enqueueActions(({ enqueue }) => enqueue.assign({ stockReserved: true })),
    recordCapture: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'PaymentCaptured') enqueue.assign({ paymentId: event.paymentId });
    }),
    flag: enqueueActions(({ context, enqueue }, params: { flag: SagaFlag }) => {
      if (!context.flags.includes(params.flag)) enqueue.assign({ flags: [...context.flags, params.flag] });
    }),
    /** Remembers why and how the saga is rolling back; the compensating commands quote it. */
    rollBack: enqueueActions(({ event, enqueue }, params: { outcome: 'reject' | 'cancel'; reason?: string }) => {
      const reason =
        params.reason ??
        (event.type === 'StockReservationFailed'
          ? event.reason
          : event.type === 'PaymentDeclined'
            ? `payment declined: ${event.reason}`
            : event.type === 'OrderCancellationRequested'
              ? event.reason || 'cancelled by the customer'
              : 'unspecified');
      enqueue.assign({ outcome: params.outcome, reason });
    }),
    releaseLateReservation: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(issue('releaseLateReservation', context));
      enqueue.assign({ flags: [...context.flags, 'lateReservationReleased'] });
    }),
    refundLateCapture: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(issue('refundLateCapture', context));
      enqueue.assign({ lateRefundRequested: true });
    }),
    recordDeadLetter: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CommandDeadLettered') return;
      const { step, commandId, error, at } = event;
      enqueue.assign({
        deadLetters: [...(context.deadLetters ?? []), { step, commandId, error, at }],
        flags: context.flags.includes('commandDeadLettered') ? context.flags : [...context.flags, 'commandDeadLettered'],
      });
    }),
  },
  guards: {
    /** The timeout is for the step now waiting and really due (a stale or early timer is ignored). */
    timerDue: ({ context, event }) =>
      event.type === 'StepTimedOut' &&
      context.timer !== null &&
      event.step === context.timer.step &&
      Date.parse(event.at) >= Date.parse(context.timer.dueAt),
    cancelling: ({ context }) => context.outcome === 'cancel',
    /** A reservation this saga no longer wants (it timed out, or the saga was cancelled): undo it once. */
    unwantedReservation: ({ context }) =>
      !context.stockReserved && !context.flags.includes('lateReservationReleased'),
    unwantedCapture: ({ context }) =>
      context.paymentId === null && context.lateRefundRequested !== true && !context.flags.includes('lateCaptureRefunded'),
    lateRefundConfirmed: ({ context }) => context.lateRefundRequested === true && !context.flags.includes('lateCaptureRefunded'),
    /** The reply was recorded after the waiting step's deadline: it is late, whenever it is applied. */
    recordedAfterDeadline: ({ context, event }) =>
      event.recordedAt !== undefined && context.timer !== null && Date.parse(event.recordedAt) > Date.parse(context.timer.dueAt),
  },
}).createMachine({
  id: 'orderSaga',
  initial: 'reservingStock',
  context: ({ input }) => ({
    orderId: input.orderId,
    customerEmail: input.customerEmail,
    items: input.items,
    total: input.total,
    currency: input.currency,
    paymentToken: input.paymentToken,
    reason: null,
    stepTimeoutMs: input.stepTimeoutMs,
    startedAt: input.startedAt,
    stockReserved: false,
    paymentId: null,
    outcome: null,
    timer: null,
    attempts: {},
    flags: [],
    lateRefundRequested: false,
    deadLetters: [],
  }),
  // Successes that arrive when no state waits for them: after their step timed out, or after
  // the customer cancelled. Each is undone once; anything else unexpected is ignored.
  on: {
    StockReserved: { guard: 'unwantedReservation', actions: 'releaseLateReservation' },
    PaymentCaptured: { guard: 'unwantedCapture', actions: 'refundLateCapture' },
    PaymentRefunded: { guard: 'lateRefundConfirmed', actions: { type: 'flag', params: { flag: 'lateCaptureRefunded' } } },
    // In any state: the saga is flagged and keeps the dead letter, never counts its effect as done.
    CommandDeadLettered: { actions: 'recordDeadLetter' },
  },
  states: {
    reservingStock: {
      meta: { step: 'reserveStock', status: 'running' },
      entry: { type: 'startStep', params: { step: 'reserveStock' } },
      exit: 'clearTimer',
      on: {
        StockReserved: [
          // Recorded after the deadline: the step timed out, whichever the saga applies first.
          {
            guard: 'recordedAfterDeadline',
            target: 'rejectingOrder',
            actions: [
              { type: 'rollBack', params: { outcome: 'reject', reason: 'stock reservation timed out' } },
              { type: 'flag', params: { flag: 'stockReservationTimedOut' } },
              'releaseLateReservation',
            ],
          },
          { target: 'chargingPayment', actions: 'recordReservation' },
        ],
        StockReservationFailed: { target: 'rejectingOrder', actions: { type: 'rollBack', params: { outcome: 'reject' } } },
        StepTimedOut: {
          guard: 'timerDue',
          target: 'rejectingOrder',
          actions: [
            { type: 'rollBack', params: { outcome: 'reject', reason: 'stock reservation timed out' } },
            { type: 'flag', params: { flag: 'stockReservationTimedOut' } },
          ],
        },
        // Nothing is reserved yet; a reservation landing later is released by the root handler.
        OrderCancellationRequested: { target: 'cancellingOrder', actions: { type: 'rollBack', params: { outcome: 'cancel' } } },
      },
    },
    chargingPayment: {
      meta: { step: 'chargePayment', status: 'running' },
      entry: { type: 'startStep', params: { step: 'chargePayment' } },
      exit: 'clearTimer',
      on: {
        PaymentCaptured: [
          {
            guard: 'recordedAfterDeadline',
            target: 'releasingStock',
            actions: [
              { type: 'rollBack', params: { outcome: 'reject', reason: 'payment timed out' } },
              { type: 'flag', params: { flag: 'paymentTimedOut' } },
              'refundLateCapture',
            ],
          },
          { target: 'confirmingOrder', actions: 'recordCapture' },
        ],
        PaymentDeclined: { target: 'releasingStock', actions: { type: 'rollBack', params: { outcome: 'reject' } } },
        StepTimedOut: {
          guard: 'timerDue',
          target: 'releasingStock',
          actions: [
            { type: 'rollBack', params: { outcome: 'reject', reason: 'payment timed out' } },
            { type: 'flag', params: { flag: 'paymentTimedOut' } },
          ],
        },
        // The charge may still land; the root handler refunds it if it does.
        OrderCancellationRequested: { target: 'releasingStock', actions: { type: 'rollBack', params: { outcome: 'cancel' } } },
      },
    },
    confirmingOrder: {
      meta: { step: 'confirmOrder', status: 'running', pivot: true },
      entry: { type: 'startStep', params: { step: 'confirmOrder' } },
      exit: 'clearTimer',
      on: {
        OrderConfirmed: { target: 'committingStock' },
        StepTimedOut: { guard: 'timerDue', actions: 'retryStep' },
        // The order stream recorded the cancellation request before any confirmation, and the
        // order service refuses ConfirmOrder once a cancellation is requested (a contract with
        // its decider), so the order will not be confirmed: undo both steps.
        OrderCancellationRequested: { target: 'refundingPayment', actions: { type: 'rollBack', params: { outcome: 'cancel' } } },
      },
    },
    committingStock: {
      meta: { step: 'commitStock', status: 'running' },
      entry: { type: 'startStep', params: { step: 'commitStock' } },
      exit: 'clearTimer',
      on: {
        StockCommitted: { target: 'sendingConfirmationEmail' },
        StepTimedOut: { guard: 'timerDue', actions: 'retryStep' },
      },
    },
    sendingConfirmationEmail: {
      meta: { step: 'sendConfirmationEmail', status: 'running' },
      entry: { type: 'startStep', params: { step: 'sendConfirmationEmail' } },
      exit: 'clearTimer',
      on: {
        EmailSent: { target: 'completed' },
        // The email service has already retried with backoff; the order stays confirmed.
        EmailFailed: { target: 'completed', actions: { type: 'flag', params: { flag: 'emailFailed' } } },
        StepTimedOut: { guard: 'timerDue', target: 'completed', actions: { type: 'flag', params: { flag: 'emailTimedOut' } } },
      },
    },

    refundingPayment: {
      meta: { step: 'refundPayment', status: 'running', compensation: true },
      entry: { type: 'startStep', params: { step: 'refundPayment' } },
      exit: 'clearTimer',
      on: {
        PaymentRefunded: { target: 'releasingStock' },
        StepTimedOut: { guard: 'timerDue', actions: 'retryStep' },
      },
    },
    releasingStock: {
      meta: { step: 'releaseStock', status: 'running', compensation: true },
      entry: { type: 'startStep', params: { step: 'releaseStock' } },
      exit: 'clearTimer',
      on: {
        StockReleased: [
          { guard: 'cancelling', target: 'cancellingOrder' },
          { target: 'rejectingOrder' },
        ],
        StepTimedOut: { guard: 'timerDue', actions: 'retryStep' },
      },
    },
    rejectingOrder: {
      meta: { step: 'rejectOrder', status: 'running', compensation: true },
      entry: { type: 'startStep', params: { step: 'rejectOrder' } },
      exit: 'clearTimer',
      on: {
        OrderRejected: { target: 'sendingRejectionEmail' },
        StepTimedOut: { guard: 'timerDue', actions: 'retryStep' },
      },
    },
    cancellingOrder: {
      meta: { step: 'cancelOrder', status: 'running', compensation: true },
      entry: { type: 'startStep', params: { step: 'cancelOrder' } },
      exit: 'clearTimer',
      on: {
        OrderCancelled: { target: 'sendingCancellationEmail' },
        StepTimedOut: { guard: 'timerDue', actions: 'retryStep' },
      },
    },
    sendingRejectionEmail: {
      meta: { step: 'sendRejectionEmail', status: 'running' },
      entry: { type: 'startStep', params: { step: 'sendRejectionEmail' } },
      exit: 'clearTimer',
      on: {
        EmailSent: { target: 'rejected' },
        EmailFailed: { target: 'rejected', actions: { type: 'flag', params: { flag: 'emailFailed' } } },
        StepTimedOut: { guard: 'timerDue', target: 'rejected', actions: { type: 'flag', params: { flag: 'emailTimedOut' } } },
      },
    },
    sendingCancellationEmail: {
      meta: { step: 'sendCancellationEmail', status: 'running' },
      entry: { type: 'startStep', params: { step: 'sendCancellationEmail' } },
      exit: 'clearTimer',
      on: {
        EmailSent: { target: 'cancelled' },
        EmailFailed: { target: 'cancelled', actions: { type: 'flag', params: { flag: 'emailFailed' } } },
        StepTimedOut: { guard: 'timerDue', target: 'cancelled', actions: { type: 'flag', params: { flag: 'emailTimedOut' } } },
      },
    },

    completed: { meta: { status: 'completed' } },
    rejected: { meta: { status: 'rejected' } },
    cancelled: { meta: { status: 'cancelled' } },
  },
});

export type SagaSnapshot = SnapshotFrom<typeof sagaMachine>;
export type SagaStateName = keyof typeof sagaMachine.config.states & string;
export type SagaStatus = 'running' | 'completed' | 'rejected' | 'cancelled';

/** The saga's status as the order sees it, read from the state's meta. */
export function statusOf(state: string): SagaStatus {
  const meta = sagaMachine.root.states[state]?.meta as { status?: SagaStatus } | undefined;
  if (!meta?.status) throw new Error(`unknown saga state '${state}'`);
  return meta.status;
}

/** The commands an xstate transition emitted, in order. */
export function commandsOf(actions: readonly { type: string; params?: unknown }[]): CommandIssued[] {
  return actions
    .filter((a) => a.type === 'xstate.emit')
    .map((a) => (a.params as { event: CommandIssued }).event)
    .filter((e) => e.type === 'command');
}
