import { setup, assign, enqueueActions, type SnapshotFrom } from 'xstate';
import type { SagaCommand } from '@saga/event-schemas/commands';
import type { LineItem, OrderId } from '@saga/event-schemas/ids';
import { sagaSteps, stepNamed, type OrderFacts, type SagaStep, type StepName, type StepTable } from './steps';

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
  | ({ type: 'CommandDeadLettered'; step: StepName; commandId: string; error: string } & At)
  /** An operator acted on the saga (operator-actions.ts checks it is allowed first). */
  | ({ type: 'OperatorActed'; action: OperatorAction; operator: string; reason: string } & At);
export type SagaEventType = SagaEvent['type'];
export const operatorActions = ['retry-step', 'skip-step', 'compensate'] as const;
export type OperatorAction = (typeof operatorActions)[number];

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
  | 'commandDeadLettered'
  | 'stepSkipped'
  | 'compensatedByOperator';

/**
 * Why the saga cannot go on by itself: a command it waits on (or a late undo it owes) was
 * dead-lettered, or a step that cannot fail was re-sent past STUCK_AFTER_ATTEMPTS. Shown to
 * operators until the step is left or an operator retries it.
 */
export interface SagaStuck {
  step: StepName;
  reason: 'dead-lettered' | 'retries-exhausted';
  error: string | null;
  since: string;
}

/** A retried step this many sends in is shown as stuck (it keeps being re-sent: the receiver may come back). */
export const STUCK_AFTER_ATTEMPTS = 5;

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
  /** Absent in sagas recorded before it existed: not stuck. */
  stuck?: SagaStuck | null;
}

/** The time of the input being applied; the initial transition has none, so it is the start. */
function timeOf(context: SagaContext, event: { type: string }): string {
  return (event as Partial<At>).at ?? context.startedAt;
}

const addMs = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

type Guard = string | { type: string; params: Record<string, unknown> };
type Action = string | { type: string; params: Record<string, unknown> };
interface Edge {
  target?: string;
  guard?: Guard;
  actions?: Action | Action[];
}
type Edges = Partial<Record<SagaEventType, Edge | Edge[]>>;

const flag = (name: SagaFlag): Action => ({ type: 'flag', params: { flag: name } });
const rollBack = (outcome: 'reject' | 'cancel', reason?: string): Action => ({ type: 'rollBack', params: reason === undefined ? { outcome } : { outcome, reason } });
const asked = (action: OperatorAction): Guard => ({ type: 'operatorAsked', params: { action } });
/** Where each ending's order step is (rejecting or cancelling the order). */
const endingStep = { reject: 'rejectOrder', cancel: 'cancelOrder' } as const satisfies Record<'reject' | 'cancel', StepName>;
/** What a forward step's success records before the saga moves on. */
const recordSuccess: Partial<Record<StepName, Action>> = { reserveStock: 'recordReservation', chargePayment: 'recordCapture' };
/** The guard that tells a late success from an expected one, per late-undo step. */
const unwantedGuard: Partial<Record<StepName, string>> = { releaseLateReservation: 'unwantedReservation', refundLateCapture: 'unwantedCapture' };

/**
 * The rows read as a saga (FTGO's rule): rolling back from a forward step runs the
 * compensations of the forward steps already done, in reverse, then rejects or cancels.
 */
export function stepGraph(table: StepTable) {
  const row = (step: StepName) => stepNamed(step, table);
  const stateOf = (step: StepName): string => {
    const state = row(step).state;
    if (!state) throw new Error(`step '${step}' has no waiting state`);
    return state;
  };
  const forward = table.filter((r) => r.kind === 'forward');
  const pivotAt = forward.findIndex((r) => r.pivot === true);
  /** The compensation steps to run, in order, when rolling back from `step` (a forward step). */
  const compensationsBefore = (step: StepName): StepName[] => {
    const at = forward.findIndex((r) => r.step === step);
    return forward
      .slice(0, at)
      .flatMap((r) => (r.compensation ? [r.compensation] : []))
      .reverse();
  };
  /** The first state of a rollback from `step` with this outcome. */
  const rollbackTarget = (step: StepName, outcome: 'reject' | 'cancel'): string => {
    const [first] = compensationsBefore(step);
    return stateOf(first ?? endingStep[outcome]);
  };
  /** Where a compensation goes once done: the next compensation back, else the ending the saga is heading for. */
  const afterCompensation = (undo: StepName): Edge[] => {
    // The forward step it undoes (none: no row names it, so it is never entered).
    const undone = forward.find((r) => r.compensation === undo);
    const [next] = undone ? compensationsBefore(undone.step) : [];
    if (next) return [{ target: stateOf(next) }];
    return [{ guard: 'cancelling', target: stateOf(endingStep.cancel) }, { target: stateOf(endingStep.reject) }];
  };
  /** Where a forward step's success leads: the next forward step, else completed. */
  const nextForward = (step: StepName): string => {
    const next = forward[forward.findIndex((r) => r.step === step) + 1];
    return next ? stateOf(next.step) : 'completed';
  };
  const beforePivot = (step: StepName) => forward.findIndex((r) => r.step === step) < pivotAt;
  const cancellable = (step: StepName) => {
    const at = forward.findIndex((r) => r.step === step);
    return at >= 0 && at <= pivotAt;
  };
  return { row, stateOf, rollbackTarget, afterCompensation, nextForward, beforePivot, cancellable, compensationsBefore };
}

/** The initial context and implementations are the same for every version; the states come from the table. */
function implementations(table: StepTable) {
  const issue = (step: StepName, context: SagaContext): CommandIssued => ({ type: 'command', step, command: stepNamed(step, table).build(context) });
  const stuckCleared = (context: SagaContext, step: StepName | undefined) => (context.stuck && context.stuck.step === step ? null : (context.stuck ?? null));
  return setup({
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
      /** Re-sends the waiting step's command (same id, so a command already applied stays a no-op) and re-arms. */
      retryStep: enqueueActions(({ context, event, enqueue }) => {
        const step = context.timer?.step;
        if (!step) return;
        const attempts = (context.attempts[step] ?? 0) + 1;
        enqueue.emit(issue(step, context));
        const operator = event.type === 'OperatorActed';
        enqueue.assign({
          timer: { step, dueAt: addMs(timeOf(context, event), context.stepTimeoutMs) },
          attempts: { ...context.attempts, [step]: attempts },
          // An operator's retry clears the condition; a timer's retry past the limit raises it.
          stuck: operator
            ? stuckCleared(context, step)
            : attempts > STUCK_AFTER_ATTEMPTS
              ? { step, reason: 'retries-exhausted', error: null, since: timeOf(context, event) }
              : (context.stuck ?? null),
        });
      }),
      /** Leaving a waiting state: its deadline, and a stuck condition of its step, go with it. */
      leaveStep: assign(({ context }, params: { step: StepName }) => ({ timer: null, stuck: stuckCleared(context, params.step) })),
      recordReservation: assign({ stockReserved: true }),
      recordCapture: assign({ paymentId: ({ event, context }) => (event.type === 'PaymentCaptured' ? event.paymentId : context.paymentId) }),
      flag: assign({ flags: ({ context }, params: { flag: SagaFlag }) => (context.flags.includes(params.flag) ? context.flags : [...context.flags, params.flag]) }),
      /** Remembers why and how the saga is rolling back; the compensating commands quote it. */
      rollBack: assign(({ event }, params: { outcome: 'reject' | 'cancel'; reason?: string }) => ({ outcome: params.outcome, reason: params.reason ?? rollbackReason(event) })),
      releaseLateReservation: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(issue('releaseLateReservation', context));
        enqueue.assign({ flags: [...context.flags, 'lateReservationReleased'] });
      }),
      refundLateCapture: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(issue('refundLateCapture', context));
        enqueue.assign({ lateRefundRequested: true });
      }),
      /** An operator asks again for a late undo that was dead-lettered. */
      retryLateUndo: enqueueActions(({ context, enqueue }) => {
        if (!context.stuck) return;
        enqueue.emit(issue(context.stuck.step, context));
        enqueue.assign({ stuck: null });
      }),
      /** An operator skips a step: it is answered as if it had succeeded. */
      skipStep: enqueueActions(({ event, enqueue }, params: { success: string }) => {
        enqueue.raise({ type: params.success, at: (event as Partial<At>).at } as SagaEvent);
      }),
      recordDeadLetter: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'CommandDeadLettered') return;
        const { step, commandId, error, at } = event;
        // Stuck when the saga still needs that command's effect: the step it waits on, or a late undo it owes.
        const needed = context.timer?.step === step || stepNamed(step, table).kind === 'late';
        enqueue.assign({
          deadLetters: [...(context.deadLetters ?? []), { step, commandId, error, at }],
          flags: context.flags.includes('commandDeadLettered') ? context.flags : [...context.flags, 'commandDeadLettered'],
          stuck: needed ? { step, reason: 'dead-lettered', error, since: at } : (context.stuck ?? null),
        });
      }),
    },
    guards: {
      /** The timeout is for the step now waiting and really due (a stale or early timer is ignored). */
      timerDue: ({ context, event }) => timerDue(context, event),
      /** Due, and the step may still be re-sent before it fails (`retriesBeforeFail`). */
      timerDueWithRetriesLeft: ({ context, event }, params: { retries: number }) =>
        timerDue(context, event) && (context.attempts[context.timer!.step] ?? 0) <= params.retries,
      cancelling: ({ context }) => context.outcome === 'cancel',
      /** A reservation this saga no longer wants (it timed out, or the saga was cancelled): undo it once. */
      unwantedReservation: ({ context }) => !context.stockReserved && !context.flags.includes('lateReservationReleased'),
      unwantedCapture: ({ context }) =>
        context.paymentId === null && context.lateRefundRequested !== true && !context.flags.includes('lateCaptureRefunded'),
      lateRefundConfirmed: ({ context }) => context.lateRefundRequested === true && !context.flags.includes('lateCaptureRefunded'),
      /** The reply was recorded after the waiting step's deadline: it is late, whenever it is applied. */
      recordedAfterDeadline: ({ context, event }) =>
        event.recordedAt !== undefined && context.timer !== null && Date.parse(event.recordedAt) > Date.parse(context.timer.dueAt),
      operatorAsked: ({ event }, params: { action: OperatorAction }) => event.type === 'OperatorActed' && event.action === params.action,
      /** A retry for a late undo that was dead-lettered (the saga may have ended meanwhile). */
      stuckOnLateUndo: ({ context, event }) =>
        event.type === 'OperatorActed' && event.action === 'retry-step' && context.stuck != null && stepNamed(context.stuck.step, table).kind === 'late',
    },
  });
}

function timerDue(context: SagaContext, event: SagaEvent): boolean {
  return (
    event.type === 'StepTimedOut' && context.timer !== null && event.step === context.timer.step && Date.parse(event.at) >= Date.parse(context.timer.dueAt)
  );
}

function rollbackReason(event: SagaEvent): string {
  switch (event.type) {
    case 'StockReservationFailed':
      return event.reason;
    case 'PaymentDeclined':
      return `payment declined: ${event.reason}`;
    case 'OrderCancellationRequested':
      return event.reason || 'cancelled by the customer';
    case 'OperatorActed':
      return `compensated by an operator: ${event.reason}`;
    default:
      return 'unspecified';
  }
}

/**
 * A waiting state built from its row: it sends the row's command on entry, clears its deadline
 * on exit, answers its timeout as the row says, and takes the operator's actions the row allows.
 * `outcomeEdges` are the replies that end the step.
 */
function waitingFor(graph: ReturnType<typeof stepGraph>, step: SagaStep, outcomeEdges: Edges, meta: Record<string, unknown> = {}) {
  const { rollbackTarget, beforePivot } = graph;
  const due = { guard: 'timerDue' };
  let timeout: Edge | Edge[];
  switch (step.onTimeout) {
    case 'retry':
      timeout = { ...due, actions: 'retryStep' };
      break;
    case 'fail': {
      const timedOut = step.timedOut!;
      const fail = { ...due, target: rollbackTarget(step.step, 'reject'), actions: [rollBack('reject', timedOut.reason), flag(timedOut.flag)] };
      timeout = step.retriesBeforeFail ? [{ guard: { type: 'timerDueWithRetriesLeft', params: { retries: step.retriesBeforeFail } }, actions: 'retryStep' }, fail] : fail;
      break;
    }
    case 'flag':
      timeout = { ...due, target: successTarget(outcomeEdges, step), actions: flag('emailTimedOut') };
      break;
    default:
      throw new Error(`step '${step.step}' waits but has no onTimeout`);
  }
  const operator: Edge[] = [{ guard: asked('retry-step'), actions: 'retryStep' }];
  if (step.skippable) operator.push({ guard: asked('skip-step'), actions: [flag('stepSkipped'), { type: 'skipStep', params: { success: step.success! } }] });
  if (step.kind === 'forward' && beforePivot(step.step)) {
    operator.push({ guard: asked('compensate'), target: rollbackTarget(step.step, 'reject'), actions: [rollBack('reject'), flag('compensatedByOperator')] });
  }
  return {
    meta: { step: step.step, status: 'running', ...meta },
    entry: { type: 'startStep', params: { step: step.step } },
    exit: { type: 'leaveStep', params: { step: step.step } },
    on: { ...outcomeEdges, StepTimedOut: timeout, OperatorActed: operator },
  };
}

/** The state a step's success leads to when nothing else is asked (the last, unguarded edge). */
function successTarget(edges: Edges, step: SagaStep): string {
  const success = edges[step.success as SagaEventType];
  const last = Array.isArray(success) ? success[success.length - 1] : success;
  if (!last?.target) throw new Error(`step '${step.step}' has no success target`);
  return last.target;
}

/** The saga machine of a step table. Every version (definitions.ts) is one table. */
export function buildSagaMachine(table: StepTable) {
  const graph = stepGraph(table);
  const { stateOf, rollbackTarget, afterCompensation, nextForward, cancellable } = graph;
  const states: Record<string, unknown> = {};

  for (const step of table) {
    if (step.state === null) continue;
    const edges: Edges = {};
    switch (step.kind) {
      case 'forward': {
        const success: Edge = { target: nextForward(step.step), ...(recordSuccess[step.step] ? { actions: recordSuccess[step.step] } : {}) };
        // A success recorded after the deadline is that step's timeout, whichever the saga applies first.
        edges[step.success as SagaEventType] =
          step.lateSuccess && step.timedOut
            ? [
                {
                  guard: 'recordedAfterDeadline',
                  target: rollbackTarget(step.step, 'reject'),
                  actions: [rollBack('reject', step.timedOut.reason), flag(step.timedOut.flag), step.lateSuccess],
                },
                success,
              ]
            : success;
        if (step.failure === 'EmailFailed') edges.EmailFailed = { target: success.target!, actions: flag('emailFailed') };
        else if (step.failure) edges[step.failure as SagaEventType] = { target: rollbackTarget(step.step, 'reject'), actions: rollBack('reject') };
        // Up to the pivot the customer may cancel: undo what was done. The order stream records a
        // cancellation request before any confirmation, and the order service refuses ConfirmOrder
        // once one is requested (a contract with its decider), so cancelling while confirming is safe.
        // A success of this step landing later is undone by the root handlers.
        if (cancellable(step.step)) edges.OrderCancellationRequested = { target: rollbackTarget(step.step, 'cancel'), actions: rollBack('cancel') };
        break;
      }
      case 'undo':
        edges[step.success as SagaEventType] = afterCompensation(step.step);
        break;
      case 'end': {
        // The order step of an ending, then its email, then the ending itself.
        const ending = step.step === endingStep.reject || step.step === 'sendRejectionEmail' ? 'rejected' : 'cancelled';
        const target = step.step === endingStep.reject ? stateOf('sendRejectionEmail') : step.step === endingStep.cancel ? stateOf('sendCancellationEmail') : ending;
        edges[step.success as SagaEventType] = { target };
        // The email service has already retried with backoff; the order stays as it is.
        if (step.failure === 'EmailFailed') edges.EmailFailed = { target, actions: flag('emailFailed') };
        break;
      }
      default:
        throw new Error(`a ${step.kind} step has no waiting state`);
    }
    // Compensation states are drawn apart: the undo steps and the order step of each ending (not its email).
    const compensation = step.kind === 'undo' || step.step === endingStep.reject || step.step === endingStep.cancel;
    states[step.state] = waitingFor(graph, step, edges, { ...(step.pivot ? { pivot: true } : {}), ...(compensation ? { compensation: true } : {}) });
  }
  states.completed = { meta: { status: 'completed' } };
  states.rejected = { meta: { status: 'rejected' } };
  states.cancelled = { meta: { status: 'cancelled' } };

  // Successes that arrive when no state waits for them: after their step timed out, or after the
  // customer cancelled. Each is undone once, by the step its row names; anything else unexpected is ignored.
  const root: Edges = {};
  for (const step of table) {
    if (!step.lateSuccess) continue;
    root[step.success as SagaEventType] = { guard: unwantedGuard[step.lateSuccess]!, actions: step.lateSuccess };
  }
  root.PaymentRefunded = { guard: 'lateRefundConfirmed', actions: flag('lateCaptureRefunded') };
  // In any state: the saga keeps the dead letter and never counts its effect as done.
  root.CommandDeadLettered = { actions: 'recordDeadLetter' };
  root.OperatorActed = { guard: 'stuckOnLateUndo', actions: 'retryLateUndo' };

  return implementations(table).createMachine({
    id: 'orderSaga',
    initial: stateOf(table.find((r) => r.kind === 'forward')!.step),
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
      stuck: null,
    }),
    on: root as never,
    states: states as never,
  });
}

/** Version 1 of the saga (the first table); definitions.ts holds every version. */
export const sagaMachine = buildSagaMachine(sagaSteps);
export type SagaMachine = typeof sagaMachine;

export type SagaSnapshot = SnapshotFrom<typeof sagaMachine>;
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
