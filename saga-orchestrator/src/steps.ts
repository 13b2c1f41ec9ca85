import type { CommandType, SagaCommand } from '@saga/event-schemas/commands';
import type { EmailTemplate } from '@saga/event-schemas/email';
import type { LineItem, OrderId } from '@saga/event-schemas/ids';

/**
 * The order saga as a list of steps, read top to bottom (Eventuate Tram style). Each step
 * names the state that waits for it, the command it sends, the replies that end it, the step
 * that undoes it and what a timeout means. The machine is built from these rows
 * (machine.ts, `buildSagaMachine`): each waiting state from its row, every rollback as the
 * `compensation`s of the forward steps already done, in reverse (FTGO's rule), and the undo
 * of a success that came too late from `lateSuccess`.
 *
 * Every waiting step has the same timeout, `stepTimeoutMs` (SAGA_STEP_TIMEOUT_MS); what it
 * means differs:
 * - `fail`: the step failed; compensate what was done. A success arriving later is undone
 *   by the step's `compensation` (a late capture is refunded, a late reservation released).
 * - `retry`: the step cannot fail (the pivot and everything after it, and compensations):
 *   re-send the same command with the same command id, so a command lost on its way (for
 *   example dead-lettered) is tried again while one already applied stays a no-op.
 * - `flag`: the email steps, after the pivot and without compensation: end anyway, flagged.
 */
export type OnTimeout = 'fail' | 'retry' | 'flag';

/** What the saga knows about an order; the command payloads are built from it. */
export interface OrderFacts {
  orderId: OrderId;
  customerEmail: string;
  items: LineItem[];
  total: number;
  currency: string;
  paymentToken: string;
  /** Why the saga is compensating (rejection or cancellation reason), once it is. */
  reason: string | null;
}

export type StepName =
  | 'reserveStock' | 'chargePayment' | 'confirmOrder' | 'commitStock' | 'sendConfirmationEmail'
  | 'refundPayment' | 'releaseStock' | 'rejectOrder' | 'cancelOrder' | 'sendRejectionEmail' | 'sendCancellationEmail'
  | 'releaseLateReservation' | 'refundLateCapture';

export interface SagaStep {
  step: StepName;
  /**
   * `forward`: the steps of the happy path, in order (rollbacks undo the ones before the
   * current one); `undo`: the compensations; `end`: rejecting or cancelling the order and the
   * emails that close each ending; `late`: fire-and-forget undo of a success that came too late.
   */
  kind: 'forward' | 'undo' | 'end' | 'late';
  /** The machine state that waits for this step's reply (none for fire-and-forget steps). */
  state: string | null;
  command: CommandType;
  success: string | null;
  failure: string | null;
  /** The step that undoes this one if the saga has to be rolled back after it succeeded. */
  compensation: StepName | null;
  onTimeout: OnTimeout | null;
  /** For `fail`: how many times the command is re-sent (same command id) before the step fails. */
  retriesBeforeFail?: number;
  /** For `fail`: the flag and the reason a timeout records. */
  timedOut?: { flag: 'stockReservationTimedOut' | 'paymentTimedOut'; reason: string };
  /** The step that undoes this step's success when it arrives after the saga gave up on it. */
  lateSuccess?: StepName;
  /** The pivot: once it is sent, the saga only goes forward (no operator compensation after it). */
  pivot?: boolean;
  /** An operator may skip it (treat it as done): only steps whose effect nothing else relies on. */
  skippable?: boolean;
  /** Builds the command from what the saga knows. */
  build: (facts: OrderFacts) => SagaCommand;
}

const email = (template: EmailTemplate, facts: OrderFacts, data: Record<string, string | number>): SagaCommand => ({
  type: 'SendEmail',
  data: { orderId: facts.orderId, to: facts.customerEmail, template, data: { orderId: facts.orderId, ...data } },
});
/** The longest reason a command carries (RefundPayment, RejectOrder, CancelOrder: 500). */
export const MAX_REASON_CHARS = 500;

/**
 * A reason cut to what the command schemas accept. The reason comes from outside (a customer's
 * cancellation text, a service's failure message), so a prefix the saga adds could push it past
 * the limit and get the command dead-lettered; the full text stays in the saga's stream.
 */
export function fitReason(text: string, max = MAX_REASON_CHARS): string {
  // Counted in UTF-16 units, as the schemas count; never cut a surrogate pair in two.
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}
const reasonOf = (facts: OrderFacts, prefix = '') => fitReason(`${prefix}${facts.reason || 'unspecified'}`);

export const sagaSteps = [
  // Forward steps, in order. confirmOrder is the pivot: after it the saga only goes forward.
  {
    step: 'reserveStock', kind: 'forward', state: 'reservingStock', command: 'ReserveStock',
    success: 'StockReserved', failure: 'StockReservationFailed', compensation: 'releaseStock', onTimeout: 'fail',
    timedOut: { flag: 'stockReservationTimedOut', reason: 'stock reservation timed out' }, lateSuccess: 'releaseLateReservation',
    build: (f) => ({ type: 'ReserveStock', data: { orderId: f.orderId, items: f.items } }),
  },
  {
    step: 'chargePayment', kind: 'forward', state: 'chargingPayment', command: 'ChargePayment',
    success: 'PaymentCaptured', failure: 'PaymentDeclined', compensation: 'refundPayment', onTimeout: 'fail',
    timedOut: { flag: 'paymentTimedOut', reason: 'payment timed out' }, lateSuccess: 'refundLateCapture',
    build: (f) => ({ type: 'ChargePayment', data: { orderId: f.orderId, amount: f.total, currency: f.currency, paymentToken: f.paymentToken } }),
  },
  {
    step: 'confirmOrder', kind: 'forward', pivot: true, state: 'confirmingOrder', command: 'ConfirmOrder',
    success: 'OrderConfirmed', failure: null, compensation: null, onTimeout: 'retry',
    build: (f) => ({ type: 'ConfirmOrder', data: { orderId: f.orderId } }),
  },
  {
    // Reserved stock becomes sold: the inventory invariant counts it out of `reserved`.
    step: 'commitStock', kind: 'forward', state: 'committingStock', command: 'CommitStock',
    success: 'StockCommitted', failure: null, compensation: null, onTimeout: 'retry',
    build: (f) => ({ type: 'CommitStock', data: { orderId: f.orderId } }),
  },
  {
    step: 'sendConfirmationEmail', kind: 'forward', skippable: true, state: 'sendingConfirmationEmail', command: 'SendEmail',
    success: 'EmailSent', failure: 'EmailFailed', compensation: null, onTimeout: 'flag',
    build: (f) => email('order-confirmed', f, { total: f.total, currency: f.currency, items: f.items.length }),
  },

  // Compensations, in the order they run (reverse of the steps they undo), then the ending.
  {
    step: 'refundPayment', kind: 'undo', state: 'refundingPayment', command: 'RefundPayment',
    success: 'PaymentRefunded', failure: null, compensation: null, onTimeout: 'retry',
    build: (f) => ({ type: 'RefundPayment', data: { orderId: f.orderId, reason: reasonOf(f) } }),
  },
  {
    step: 'releaseStock', kind: 'undo', state: 'releasingStock', command: 'ReleaseStock',
    success: 'StockReleased', failure: null, compensation: null, onTimeout: 'retry',
    build: (f) => ({ type: 'ReleaseStock', data: { orderId: f.orderId } }),
  },
  {
    step: 'rejectOrder', kind: 'end', state: 'rejectingOrder', command: 'RejectOrder',
    success: 'OrderRejected', failure: null, compensation: null, onTimeout: 'retry',
    build: (f) => ({ type: 'RejectOrder', data: { orderId: f.orderId, reason: reasonOf(f) } }),
  },
  {
    step: 'cancelOrder', kind: 'end', state: 'cancellingOrder', command: 'CancelOrder',
    success: 'OrderCancelled', failure: null, compensation: null, onTimeout: 'retry',
    build: (f) => ({ type: 'CancelOrder', data: { orderId: f.orderId, reason: reasonOf(f) } }),
  },
  {
    step: 'sendRejectionEmail', kind: 'end', skippable: true, state: 'sendingRejectionEmail', command: 'SendEmail',
    success: 'EmailSent', failure: 'EmailFailed', compensation: null, onTimeout: 'flag',
    build: (f) => email('order-rejected', f, { reason: reasonOf(f) }),
  },
  {
    step: 'sendCancellationEmail', kind: 'end', skippable: true, state: 'sendingCancellationEmail', command: 'SendEmail',
    success: 'EmailSent', failure: 'EmailFailed', compensation: null, onTimeout: 'flag',
    build: (f) => email('order-cancelled', f, { reason: reasonOf(f) }),
  },

  // Undoing a success that came too late (after its step timed out or the saga was cancelled).
  // Fire and forget: no state waits for them, the receivers apply them once.
  {
    step: 'releaseLateReservation', kind: 'late', state: null, command: 'ReleaseStock',
    success: null, failure: null, compensation: null, onTimeout: null,
    build: (f) => ({ type: 'ReleaseStock', data: { orderId: f.orderId } }),
  },
  {
    step: 'refundLateCapture', kind: 'late', state: null, command: 'RefundPayment',
    success: null, failure: null, compensation: null, onTimeout: null,
    build: (f) => ({ type: 'RefundPayment', data: { orderId: f.orderId, reason: reasonOf(f, 'captured after the saga gave up: ') } }),
  },
] as const satisfies readonly SagaStep[];

export type StepTable = readonly SagaStep[];

export function stepNamed(step: StepName, table: StepTable = sagaSteps): SagaStep {
  const found = table.find((s) => s.step === step);
  if (!found) throw new Error(`unknown saga step '${step}'`);
  return found;
}
