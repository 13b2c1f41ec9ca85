import { describe, it, expect } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { commandCatalog } from '@saga/event-schemas/commands';
import type { OrderId, LineItem } from '@saga/event-schemas/ids';
import { buildSagaMachine, commandsOf, sagaMachine, statusOf, type SagaEvent, type SagaInput, type SagaMachine, type SagaSnapshot } from './machine';
import { sagaSteps, type SagaStep, type StepName } from './steps';
import { planMigration, versionOrThrow } from './definitions';
import { foldSaga, issuedCommands, startedEvents, transitionEvents } from './saga-stream';
import { machineOfRows, whatIf } from './what-if';
import { stepRows } from './export';
import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { actionRefusal } from './operator-actions';
import type { OperatorAction } from './machine';
import { createSagaStepper } from './stepper';

const orderId = 'order-1' as OrderId;
const items = [{ sku: 'MUG-001', quantity: 2 }] as LineItem[];
const input: SagaInput = {
  orderId,
  customerEmail: 'alice@example.com',
  items,
  total: 2400,
  currency: 'EUR',
  paymentToken: 'tok_4242',
  stepTimeoutMs: 30_000,
  startedAt: '2026-01-01T00:00:00.000Z',
};
const t = (seconds: number) => new Date(Date.parse(input.startedAt) + seconds * 1000).toISOString();

// The commands, written from the requirement (issue 4 and the design), not from the machine.
const reserve = { step: 'reserveStock', command: { type: 'ReserveStock', data: { orderId, items } } };
const charge = {
  step: 'chargePayment',
  command: { type: 'ChargePayment', data: { orderId, amount: 2400, currency: 'EUR', paymentToken: 'tok_4242' } },
};
const confirm = { step: 'confirmOrder', command: { type: 'ConfirmOrder', data: { orderId } } };
const commit = { step: 'commitStock', command: { type: 'CommitStock', data: { orderId } } };
const release = { step: 'releaseStock', command: { type: 'ReleaseStock', data: { orderId } } };
const refund = (reason: string) => ({ step: 'refundPayment', command: { type: 'RefundPayment', data: { orderId, reason } } });
const reject = (reason: string) => ({ step: 'rejectOrder', command: { type: 'RejectOrder', data: { orderId, reason } } });
const cancel = (reason: string) => ({ step: 'cancelOrder', command: { type: 'CancelOrder', data: { orderId, reason } } });
const mail = (step: StepName, template: string, data: Record<string, string | number>) => ({
  step,
  command: { type: 'SendEmail', data: { orderId, to: 'alice@example.com', template, data: { orderId, ...data } } },
});
const confirmationEmail = mail('sendConfirmationEmail', 'order-confirmed', { total: 2400, currency: 'EUR', items: 1 });
const rejectionEmail = (reason: string) => mail('sendRejectionEmail', 'order-rejected', { reason });
const cancellationEmail = (reason: string) => mail('sendCancellationEmail', 'order-cancelled', { reason });

const sent = (actions: Parameters<typeof commandsOf>[0]) => commandsOf(actions).map(({ step, command }) => ({ step, command }));

/** A saga test read as a conversation: expect this command; given this reply; expect the next. */
class Conversation {
  private last: unknown[];
  constructor(
    private snapshot: SagaSnapshot,
    commands: unknown[],
    private machine: SagaMachine = sagaMachine,
  ) {
    this.last = commands;
  }
  static start(machine: SagaMachine = sagaMachine): Conversation {
    const [snapshot, actions] = initialTransition(machine, input);
    return new Conversation(snapshot, sent(actions), machine);
  }
  expect(commands: unknown[], state: string): this {
    expect(this.last).toEqual(commands);
    expect(this.snapshot.value).toBe(state);
    return this;
  }
  given(event: SagaEvent): this {
    const [next, actions] = transition(this.machine, this.snapshot, event);
    this.snapshot = next;
    this.last = sent(actions);
    return this;
  }
  /** The step now waiting times out (at its deadline). */
  timeout(): this {
    const timer = this.snapshot.context.timer;
    if (!timer) throw new Error(`no timer armed in ${String(this.snapshot.value)}`);
    return this.given({ type: 'StepTimedOut', step: timer.step, at: timer.dueAt });
  }
  ends(status: string, flags: string[] = []): void {
    expect(statusOf(String(this.snapshot.value))).toBe(status);
    expect(this.snapshot.context.flags).toEqual(flags);
    expect(this.snapshot.context.timer).toBeNull();
  }
  get context() {
    return this.snapshot.context;
  }
  get state() {
    return String(this.snapshot.value);
  }
  /** Moves the saga to another version's machine, in `state`, with its context (a migration). */
  migrate(machine: SagaMachine, state: string): this {
    this.snapshot = machine.resolveState({ value: state, context: this.snapshot.context });
    this.machine = machine;
    this.last = [];
    return this;
  }
}

const happyToConfirming = () =>
  Conversation.start()
    .expect([reserve], 'reservingStock')
    .given({ type: 'StockReserved', at: t(1) })
    .expect([charge], 'chargingPayment')
    .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(2) })
    .expect([confirm], 'confirmingOrder');

describe('order saga, path by path', () => {
  it('happy path: reserve, charge, confirm, commit stock, email, completed', () => {
    const saga = happyToConfirming()
      .given({ type: 'OrderConfirmed', at: t(3) })
      .expect([commit], 'committingStock')
      .given({ type: 'StockCommitted', at: t(4) })
      .expect([confirmationEmail], 'sendingConfirmationEmail')
      .given({ type: 'EmailSent', at: t(5) })
      .expect([], 'completed');
    saga.ends('completed');
  });

  it('arms a deadline stepTimeoutMs after each step starts', () => {
    const saga = Conversation.start();
    expect(saga.context.timer).toEqual({ step: 'reserveStock', dueAt: t(30) });
    saga.given({ type: 'StockReserved', at: t(7) });
    expect(saga.context.timer).toEqual({ step: 'chargePayment', dueAt: t(37) });
  });

  it('stock unavailable: reject the order, email the customer, rejected', () => {
    Conversation.start()
      .given({ type: 'StockReservationFailed', reason: 'insufficient stock for MUG-001', at: t(1) })
      .expect([reject('insufficient stock for MUG-001')], 'rejectingOrder')
      .given({ type: 'OrderRejected', at: t(2) })
      .expect([rejectionEmail('insufficient stock for MUG-001')], 'sendingRejectionEmail')
      .given({ type: 'EmailSent', at: t(3) })
      .expect([], 'rejected')
      .ends('rejected');
  });

  it('payment declined: release stock, reject, email, rejected', () => {
    Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'PaymentDeclined', reason: 'card_declined', at: t(2) })
      .expect([release], 'releasingStock')
      .given({ type: 'StockReleased', at: t(3) })
      .expect([reject('payment declined: card_declined')], 'rejectingOrder')
      .given({ type: 'OrderRejected', at: t(4) })
      .expect([rejectionEmail('payment declined: card_declined')], 'sendingRejectionEmail')
      .given({ type: 'EmailSent', at: t(5) })
      .ends('rejected');
  });

  it('payment timed out, then captured late: release, reject, email, and the late capture is refunded', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .expect([release], 'releasingStock')
      .given({ type: 'StockReleased', at: t(32) })
      .expect([reject('payment timed out')], 'rejectingOrder')
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(33) })
      .expect(
        [{ step: 'refundLateCapture', command: { type: 'RefundPayment', data: { orderId, reason: 'captured after the saga gave up: payment timed out' } } }],
        'rejectingOrder',
      )
      .given({ type: 'OrderRejected', at: t(34) })
      .given({ type: 'EmailSent', at: t(35) })
      .expect([], 'rejected');
    // Sent is not done: the flag waits for the payment service's confirmation.
    saga.ends('rejected', ['paymentTimedOut']);
    saga.given({ type: 'PaymentRefunded', at: t(36) }).ends('rejected', ['paymentTimedOut', 'lateCaptureRefunded']);
  });

  it('a capture arriving after the saga ended is still refunded, once', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .given({ type: 'StockReleased', at: t(32) })
      .given({ type: 'OrderRejected', at: t(33) })
      .given({ type: 'EmailSent', at: t(34) })
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(40) })
      .expect(
        [{ step: 'refundLateCapture', command: { type: 'RefundPayment', data: { orderId, reason: 'captured after the saga gave up: payment timed out' } } }],
        'rejected',
      )
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(41) })
      .expect([], 'rejected')
      .given({ type: 'PaymentRefunded', at: t(42) });
    saga.ends('rejected', ['paymentTimedOut', 'lateCaptureRefunded']);
  });

  it('stock reservation timed out, then reserved late: reject, email, and the late reservation is released', () => {
    Conversation.start()
      .timeout()
      .expect([reject('stock reservation timed out')], 'rejectingOrder')
      .given({ type: 'StockReserved', at: t(31) })
      .expect([{ step: 'releaseLateReservation', command: { type: 'ReleaseStock', data: { orderId } } }], 'rejectingOrder')
      .given({ type: 'OrderRejected', at: t(32) })
      .expect([rejectionEmail('stock reservation timed out')], 'sendingRejectionEmail')
      .given({ type: 'EmailFailed', error: 'smtp down', at: t(33) })
      .ends('rejected', ['stockReservationTimedOut', 'lateReservationReleased', 'emailFailed']);
  });

  it('email fails after its retries: the order stays confirmed, completed with the emailFailed flag', () => {
    happyToConfirming()
      .given({ type: 'OrderConfirmed', at: t(3) })
      .given({ type: 'StockCommitted', at: t(4) })
      .given({ type: 'EmailFailed', error: 'mailbox unavailable', at: t(5) })
      .expect([], 'completed')
      .ends('completed', ['emailFailed']);
  });

  it('email times out: completed with the emailTimedOut flag', () => {
    happyToConfirming()
      .given({ type: 'OrderConfirmed', at: t(3) })
      .given({ type: 'StockCommitted', at: t(4) })
      .timeout()
      .expect([], 'completed')
      .ends('completed', ['emailTimedOut']);
  });

  it('a step after the pivot that times out re-sends its command and waits again', () => {
    const saga = happyToConfirming().timeout().expect([confirm], 'confirmingOrder');
    expect(saga.context.timer).toEqual({ step: 'confirmOrder', dueAt: t(62) });
    expect(saga.context.attempts.confirmOrder).toBe(2);
    saga.given({ type: 'OrderConfirmed', at: t(63) }).expect([commit], 'committingStock');
  });

  it('a stale or early timer changes nothing', () => {
    const saga = Conversation.start().given({ type: 'StockReserved', at: t(1) });
    saga.given({ type: 'StepTimedOut', step: 'reserveStock', at: t(100) }).expect([], 'chargingPayment');
    saga.given({ type: 'StepTimedOut', step: 'chargePayment', at: t(30) }).expect([], 'chargingPayment');
  });

  describe('customer cancels in each running state before the pivot', () => {
    it('while reserving stock: cancel, email; a reservation landing later is released', () => {
      Conversation.start()
        .given({ type: 'OrderCancellationRequested', reason: 'changed my mind', at: t(1) })
        .expect([cancel('changed my mind')], 'cancellingOrder')
        .given({ type: 'StockReserved', at: t(2) })
        .expect([{ step: 'releaseLateReservation', command: { type: 'ReleaseStock', data: { orderId } } }], 'cancellingOrder')
        .given({ type: 'OrderCancelled', at: t(3) })
        .expect([cancellationEmail('changed my mind')], 'sendingCancellationEmail')
        .given({ type: 'EmailSent', at: t(4) })
        .ends('cancelled', ['lateReservationReleased']);
    });

    it('while charging payment: release stock, cancel, email; a capture landing later is refunded', () => {
      Conversation.start()
        .given({ type: 'StockReserved', at: t(1) })
        .given({ type: 'OrderCancellationRequested', at: t(2) })
        .expect([release], 'releasingStock')
        .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(3) })
        .expect(
          [{ step: 'refundLateCapture', command: { type: 'RefundPayment', data: { orderId, reason: 'captured after the saga gave up: cancelled by the customer' } } }],
          'releasingStock',
        )
        .given({ type: 'StockReleased', at: t(4) })
        .expect([cancel('cancelled by the customer')], 'cancellingOrder')
        .given({ type: 'PaymentRefunded', at: t(4) })
        .given({ type: 'OrderCancelled', at: t(5) })
        .expect([cancellationEmail('cancelled by the customer')], 'sendingCancellationEmail')
        .given({ type: 'EmailSent', at: t(6) })
        .ends('cancelled', ['lateCaptureRefunded']);
    });

    it('while confirming the order: refund, release, cancel, email (reverse order)', () => {
      happyToConfirming()
        .given({ type: 'OrderCancellationRequested', reason: 'too slow', at: t(3) })
        .expect([refund('too slow')], 'refundingPayment')
        .given({ type: 'PaymentRefunded', at: t(4) })
        .expect([release], 'releasingStock')
        .given({ type: 'StockReleased', at: t(5) })
        .expect([cancel('too slow')], 'cancellingOrder')
        .given({ type: 'OrderCancelled', at: t(6) })
        .expect([cancellationEmail('too slow')], 'sendingCancellationEmail')
        .given({ type: 'EmailSent', at: t(7) })
        .ends('cancelled');
    });

    it('after the pivot a cancellation request is ignored (the order service refuses it anyway)', () => {
      happyToConfirming()
        .given({ type: 'OrderConfirmed', at: t(3) })
        .given({ type: 'OrderCancellationRequested', at: t(4) })
        .expect([], 'committingStock');
    });
  });
});

describe('replies are judged by when they were recorded, not when the saga applies them', () => {
  it('a capture recorded before the deadline but applied after it is in time', () => {
    Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', recordedAt: t(30), at: t(45) })
      .expect([confirm], 'confirmingOrder');
  });

  it('a capture recorded after the deadline is late even if applied before the timer fired: refunded, rejected', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', recordedAt: t(31.001), at: t(31.002) })
      .expect(
        [
          { step: 'refundLateCapture', command: { type: 'RefundPayment', data: { orderId, reason: 'captured after the saga gave up: payment timed out' } } },
          release,
        ],
        'releasingStock',
      );
    expect(saga.context.paymentId).toBeNull();
    saga.timeout().expect([release], 'releasingStock');
    saga
      .given({ type: 'StockReleased', at: t(40) })
      .given({ type: 'PaymentRefunded', at: t(41) })
      .given({ type: 'OrderRejected', at: t(42) })
      .given({ type: 'EmailSent', at: t(43) })
      .ends('rejected', ['paymentTimedOut', 'lateCaptureRefunded']);
  });

  it('a reservation recorded after the deadline is released, and the order rejected', () => {
    Conversation.start()
      .given({ type: 'StockReserved', recordedAt: t(30.5), at: t(30.6) })
      .expect([{ step: 'releaseLateReservation', command: { type: 'ReleaseStock', data: { orderId } } }, reject('stock reservation timed out')], 'rejectingOrder')
      .given({ type: 'OrderRejected', at: t(31) })
      .given({ type: 'EmailSent', at: t(32) })
      .ends('rejected', ['stockReservationTimedOut', 'lateReservationReleased']);
  });
});

describe('a dead-lettered command is never counted as done', () => {
  it('the late refund dead-lettered: flagged commandDeadLettered, never lateCaptureRefunded', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(32) })
      .given({ type: 'CommandDeadLettered', step: 'refundLateCapture', commandId: 'cmd-9', error: 'ZodError: too long', at: t(33) })
      .expect([], 'releasingStock')
      .given({ type: 'StockReleased', at: t(34) })
      .given({ type: 'OrderRejected', at: t(35) })
      .given({ type: 'EmailSent', at: t(36) });
    saga.ends('rejected', ['paymentTimedOut', 'commandDeadLettered']);
    expect(saga.context.deadLetters).toEqual([{ step: 'refundLateCapture', commandId: 'cmd-9', error: 'ZodError: too long', at: t(33) }]);
  });
});

describe('the machine matches the step table', () => {
  const states = sagaMachine.root.states;
  for (const row of sagaSteps) {
    if (row.state === null) continue;
    it(`${row.step}: waits in ${row.state}, ends on ${row.success}${row.failure ? ` or ${row.failure}` : ''}, timeout ${row.onTimeout}`, () => {
      const node = states[row.state];
      expect(node, row.state).toBeDefined();
      expect((node!.meta as { step: string }).step).toBe(row.step);
      const entry = node!.entry.map((a) => (typeof a === 'object' && a !== null ? (a as { params?: unknown }).params : undefined));
      expect(entry).toContainEqual({ step: row.step });
      expect(node!.on[row.success]?.length ?? 0).toBeGreaterThan(0);
      if (row.failure) expect(node!.on[row.failure]?.length ?? 0).toBeGreaterThan(0);
      const timeout = node!.on.StepTimedOut ?? [];
      expect(timeout).toHaveLength(1);
      const retries = timeout[0]!.target === undefined;
      expect(retries).toBe(row.onTimeout === 'retry');
    });
  }
});

describe('the step table drives the machine', () => {
  const states = sagaMachine.root.states;
  const targetOf = (state: string, event: SagaEvent['type']) => (states[state]!.on[event] ?? []).map((t) => t.target?.[0]?.key ?? null);

  it('a cancel undoes the forward steps already done, in reverse, then cancels (the design, not the code)', () => {
    expect({
      reservingStock: targetOf('reservingStock', 'OrderCancellationRequested'),
      chargingPayment: targetOf('chargingPayment', 'OrderCancellationRequested'),
      confirmingOrder: targetOf('confirmingOrder', 'OrderCancellationRequested'),
      committingStock: targetOf('committingStock', 'OrderCancellationRequested'),
      refundingPayment: targetOf('refundingPayment', 'PaymentRefunded'),
      releasingStock: targetOf('releasingStock', 'StockReleased'),
    }).toEqual({
      reservingStock: ['cancellingOrder'],
      chargingPayment: ['releasingStock'],
      confirmingOrder: ['refundingPayment'],
      committingStock: [],
      refundingPayment: ['releasingStock'],
      releasingStock: ['cancellingOrder', 'rejectingOrder'],
    });
  });

  const mutated = (step: StepName, change: Partial<SagaStep>) => buildSagaMachine(sagaSteps.map((r): SagaStep => (r.step === step ? { ...r, ...change } : r)));

  it("chargePayment's compensation is read: set to releaseStock, a cancel while confirming no longer refunds", () => {
    Conversation.start(mutated('chargePayment', { compensation: 'releaseStock' }))
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(2) })
      .given({ type: 'OrderCancellationRequested', reason: 'too slow', at: t(3) })
      .expect([release], 'releasingStock');
  });

  it("reserveStock's compensation is read: without it, a cancel while charging releases nothing", () => {
    Conversation.start(mutated('reserveStock', { compensation: null }))
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'OrderCancellationRequested', at: t(2) })
      .expect([cancel('cancelled by the customer')], 'cancellingOrder');
  });

  it("the late-success undo is the row's: without lateSuccess, a capture after the timeout is not refunded", () => {
    const saga = Conversation.start(mutated('chargePayment', { lateSuccess: undefined })).given({ type: 'StockReserved', at: t(1) }).timeout();
    saga.given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(40) }).expect([], 'releasingStock');
  });

  it("a row's onTimeout is read: chargePayment set to retry re-sends the charge instead of rolling back", () => {
    Conversation.start(mutated('chargePayment', { onTimeout: 'retry' }))
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .expect([charge], 'chargingPayment');
  });
});

const v1 = versionOrThrow(1);
const v2 = versionOrThrow(2);
const act = (action: OperatorAction, at: string, reason = 'ops ticket 42'): SagaEvent => ({ type: 'OperatorActed', action, operator: 'admin-1', reason, at });
const refusalIn = (saga: Conversation, action: OperatorAction, version = v1) => actionRefusal(version, saga.state, saga.context, action, t(500));

describe('operator actions, as conversations', () => {
  it('retry-step on a stuck charge: the dead letter makes the saga stuck; the retry re-sends the same command and clears it', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'CommandDeadLettered', step: 'chargePayment', commandId: 'cmd-charge', error: 'ProviderUnreachableError: no route', at: t(3) })
      .expect([], 'chargingPayment');
    expect(saga.context.stuck).toEqual({ step: 'chargePayment', reason: 'dead-lettered', error: 'ProviderUnreachableError: no route', since: t(3) });
    expect(refusalIn(saga, 'retry-step')).toBeNull();
    saga.given(act('retry-step', t(4))).expect([charge], 'chargingPayment');
    expect(saga.context.stuck).toBeNull();
    expect(saga.context.attempts.chargePayment).toBe(2);
    // The retry re-arms the deadline from when the operator acted.
    expect(saga.context.timer).toEqual({ step: 'chargePayment', dueAt: t(34) });
    saga.given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(5) }).expect([confirm], 'confirmingOrder');
  });

  it('a dead letter of a step the saga has left does not make it stuck', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .given({ type: 'CommandDeadLettered', step: 'chargePayment', commandId: 'cmd-charge', error: 'unreachable', at: t(32) })
      .expect([], 'releasingStock');
    expect(saga.context.stuck).toBeNull();
    expect(saga.context.flags).toContain('commandDeadLettered');
  });

  it('leaving the step ends the stuck condition: a stuck charge that times out compensates as usual', () => {
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .given({ type: 'CommandDeadLettered', step: 'chargePayment', commandId: 'cmd-charge', error: 'unreachable', at: t(3) })
      .timeout()
      .expect([release], 'releasingStock');
    expect(saga.context.stuck).toBeNull();
  });

  it('a step that cannot fail, re-sent past the limit, is stuck (and still re-sent)', () => {
    const saga = happyToConfirming();
    for (let i = 0; i < 5; i++) saga.timeout();
    expect(saga.context.attempts.confirmOrder).toBe(6);
    expect(saga.context.stuck).toMatchObject({ step: 'confirmOrder', reason: 'retries-exhausted', error: null });
    saga.given({ type: 'OrderConfirmed', at: t(200) }).expect([commit], 'committingStock');
    expect(saga.context.stuck).toBeNull();
  });

  it('retry-step of a late refund that was dead-lettered, after the saga ended: re-sent, then confirmed', () => {
    const lateRefund = { step: 'refundLateCapture', command: { type: 'RefundPayment', data: { orderId, reason: 'captured after the saga gave up: payment timed out' } } };
    const saga = Conversation.start()
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', at: t(32) })
      .given({ type: 'StockReleased', at: t(33) })
      .given({ type: 'OrderRejected', at: t(34) })
      .given({ type: 'EmailSent', at: t(35) })
      .given({ type: 'CommandDeadLettered', step: 'refundLateCapture', commandId: 'cmd-9', error: 'ZodError', at: t(36) })
      .expect([], 'rejected');
    expect(saga.context.stuck).toMatchObject({ step: 'refundLateCapture', reason: 'dead-lettered' });
    saga.given(act('retry-step', t(37))).expect([lateRefund], 'rejected');
    expect(saga.context.stuck).toBeNull();
    saga.given({ type: 'PaymentRefunded', at: t(38) }).ends('rejected', ['paymentTimedOut', 'commandDeadLettered', 'lateCaptureRefunded']);
  });

  it('skip-step on the confirmation email: completed, flagged stepSkipped', () => {
    const saga = happyToConfirming()
      .given({ type: 'OrderConfirmed', at: t(3) })
      .given({ type: 'StockCommitted', at: t(4) })
      .expect([confirmationEmail], 'sendingConfirmationEmail');
    expect(refusalIn(saga, 'skip-step')).toBeNull();
    saga.given(act('skip-step', t(5))).expect([], 'completed').ends('completed', ['stepSkipped']);
  });

  it('skip-step on the rejection email ends the saga rejected', () => {
    Conversation.start()
      .given({ type: 'StockReservationFailed', reason: 'none', at: t(1) })
      .given({ type: 'OrderRejected', at: t(2) })
      .given(act('skip-step', t(3)))
      .ends('rejected', ['stepSkipped']);
  });

  it('compensate while charging: release the stock, reject with the operator reason, email', () => {
    const saga = Conversation.start().given({ type: 'StockReserved', at: t(1) });
    expect(refusalIn(saga, 'compensate')).toBeNull();
    saga
      .given(act('compensate', t(2), 'provider down all day'))
      .expect([release], 'releasingStock')
      .given({ type: 'StockReleased', at: t(3) })
      .expect([reject('compensated by an operator: provider down all day')], 'rejectingOrder')
      .given({ type: 'OrderRejected', at: t(4) })
      .expect([rejectionEmail('compensated by an operator: provider down all day')], 'sendingRejectionEmail')
      .given({ type: 'EmailSent', at: t(5) })
      .ends('rejected', ['compensatedByOperator']);
  });

  it('compensate while reserving: nothing done yet, reject at once; a reservation landing later is released', () => {
    Conversation.start()
      .given(act('compensate', t(1), 'warehouse closed'))
      .expect([reject('compensated by an operator: warehouse closed')], 'rejectingOrder')
      .given({ type: 'StockReserved', at: t(2) })
      .expect([{ step: 'releaseLateReservation', command: { type: 'ReleaseStock', data: { orderId } } }], 'rejectingOrder');
  });

  it('refuses, with the reason, what the state does not allow; the machine changes nothing', () => {
    const confirming = happyToConfirming();
    expect(refusalIn(confirming, 'compensate')).toBe('step confirmOrder is at or after the pivot (confirmOrder): from here the saga only goes forward');
    expect(refusalIn(confirming, 'skip-step')).toBe('step confirmOrder cannot be skipped: only the emails can, since nothing after them relies on them');
    confirming.given(act('compensate', t(3))).expect([], 'confirmingOrder');
    const compensating = Conversation.start().given({ type: 'StockReserved', at: t(1) }).given({ type: 'PaymentDeclined', reason: 'card_declined', at: t(2) });
    expect(refusalIn(compensating, 'compensate')).toBe('the saga is already compensating (releasingStock)');
    const done = happyToConfirming()
      .given({ type: 'OrderConfirmed', at: t(3) })
      .given({ type: 'StockCommitted', at: t(4) })
      .given({ type: 'EmailSent', at: t(5) });
    expect(refusalIn(done, 'retry-step')).toBe('the saga has ended (completed) and owes no undo that was dead-lettered: nothing to retry');
    expect(refusalIn(done, 'compensate')).toBe('the saga has ended (completed): nothing to compensate');
  });
});

describe('version 2: the charge is re-sent once before the payment step fails', () => {
  it('first timeout re-sends the same charge; a capture before the second deadline is in time', () => {
    Conversation.start(v2.machine)
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .expect([charge], 'chargingPayment')
      .given({ type: 'PaymentCaptured', paymentId: 'pay-1', recordedAt: t(50), at: t(50) })
      .expect([confirm], 'confirmingOrder');
  });

  it('second timeout fails the step and compensates as version 1 does after one', () => {
    Conversation.start(v2.machine)
      .given({ type: 'StockReserved', at: t(1) })
      .timeout()
      .timeout()
      .expect([release], 'releasingStock')
      .given({ type: 'StockReleased', at: t(62) })
      .expect([reject('payment timed out')], 'rejectingOrder');
  });

  it('differs from version 1 by exactly that row: versions have their own hashes', () => {
    expect(v2.steps.filter((r, i) => r !== v1.steps[i]).map((r) => r.step)).toEqual(['chargePayment']);
    expect(v1.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(v2.hash).not.toBe(v1.hash);
  });
});

describe('migration to a newer version, as conversations', () => {
  it('a v1 saga charging moves to v2 in the same state and then gets the retry v2 gives', () => {
    const saga = Conversation.start().given({ type: 'StockReserved', at: t(1) });
    const plan = planMigration(v1, saga.state, saga.context, 2);
    expect(plan).toMatchObject({ ok: true, to: 'chargingPayment' });
    saga.migrate(v2.machine, 'chargingPayment').timeout().expect([charge], 'chargingPayment');
  });

  it('refuses an ended saga, an older or the same version and an unknown one, with the reason', () => {
    const done = Conversation.start()
      .given({ type: 'StockReservationFailed', reason: 'none', at: t(1) })
      .given({ type: 'OrderRejected', at: t(2) })
      .given({ type: 'EmailSent', at: t(3) });
    expect(planMigration(v1, done.state, done.context, 2)).toEqual({ ok: false, reason: 'the saga has ended: there is nothing left to run under another version' });
    expect(planMigration(v2, 'chargingPayment', done.context, 1)).toEqual({ ok: false, reason: 'the saga runs version 2; it can only move to a newer version' });
    expect(planMigration(v1, 'chargingPayment', done.context, 1)).toEqual({ ok: false, reason: 'the saga runs version 1; it can only move to a newer version' });
    expect(planMigration(v1, 'chargingPayment', done.context, 9)).toEqual({ ok: false, reason: 'there is no saga definition version 9 (known: 1, 2)' });
  });
});

// ---- model-based: every path of the machine, checked against the design's invariants ----

/** Plausible inputs in a state: replies only to commands already sent, the due timer, a cancel. */
function plausibleEvents(snapshot: SagaSnapshot): SagaEvent[] {
  const c = snapshot.context;
  const at = c.timer?.dueAt ?? t(1000);
  const sent = (step: StepName) => (c.attempts[step] ?? 0) > 0;
  const events: SagaEvent[] = [{ type: 'OrderCancellationRequested', at }];
  // One timeout per step is enough to walk its edge; more retries would only repeat it.
  if (c.timer && (c.attempts[c.timer.step] ?? 0) < 2) events.push({ type: 'StepTimedOut', step: c.timer.step, at: c.timer.dueAt });
  // Each service answers a command once: no second reply once one has been seen.
  const reservationAnswered = c.stockReserved || c.flags.includes('lateReservationReleased') || c.reason === 'out of stock';
  const paymentAnswered = c.paymentId !== null || c.lateRefundRequested === true || c.reason === 'payment declined: card_declined';
  if (sent('reserveStock') && !reservationAnswered) events.push({ type: 'StockReserved', at }, { type: 'StockReservationFailed', reason: 'out of stock', at });
  if (sent('chargePayment') && !paymentAnswered)
    events.push({ type: 'PaymentCaptured', paymentId: 'pay-1', at }, { type: 'PaymentDeclined', reason: 'card_declined', at });
  if (sent('confirmOrder')) events.push({ type: 'OrderConfirmed', at });
  if (sent('commitStock')) events.push({ type: 'StockCommitted', at });
  // The refund of a late capture is answered too (refundPayment and a late capture never meet).
  if (sent('refundPayment') || (c.lateRefundRequested === true && !c.flags.includes('lateCaptureRefunded'))) events.push({ type: 'PaymentRefunded', at });
  if (sent('releaseStock')) events.push({ type: 'StockReleased', at });
  if (sent('rejectOrder')) events.push({ type: 'OrderRejected', at });
  if (sent('cancelOrder')) events.push({ type: 'OrderCancelled', at });
  if (sent('sendConfirmationEmail') || sent('sendRejectionEmail') || sent('sendCancellationEmail'))
    events.push({ type: 'EmailSent', at }, { type: 'EmailFailed', error: 'smtp', at });
  return events;
}

interface Ledger {
  reserved: number;
  released: number;
  committed: number;
  captured: number;
  refunded: number;
  commands: { step: string; type: string; template?: string }[];
}

const eventsOf = (path: { steps: { event: unknown }[] }) =>
  path.steps.map((s) => s.event as SagaEvent).filter((e) => !e.type.startsWith('xstate.'));

/** The reply a service gives when the step succeeds. */
function success(step: StepName, at: string): SagaEvent {
  const type = sagaSteps.find((s) => s.step === step)!.success;
  if (type === 'PaymentCaptured') return { type, paymentId: 'pay-1', at };
  return { type, at } as SagaEvent;
}

/**
 * Replays a path through the pure machine, counting what the world would have done; with
 * `answerUntilEnded`, every step still waiting then succeeds, until the saga ends.
 */
function replay(events: SagaEvent[], options: { answerUntilEnded?: boolean } = {}): { snapshot: SagaSnapshot; ledger: Ledger } {
  let [snapshot, actions] = initialTransition(sagaMachine, input);
  const ledger: Ledger = { reserved: 0, released: 0, committed: 0, captured: 0, refunded: 0, commands: [] };
  const sentIds = new Set<string>();
  const record = (acts: typeof actions) => {
    for (const { step, command } of commandsOf(acts)) {
      ledger.commands.push({ step, type: command.type, ...(command.type === 'SendEmail' ? { template: command.data.template } : {}) });
      // Receivers deduplicate by command id (orderId, step, type): a re-sent command counts once.
      const id = `${step}/${command.type}`;
      if (sentIds.has(id)) continue;
      sentIds.add(id);
      if (command.type === 'ReleaseStock') ledger.released++;
      if (command.type === 'CommitStock') ledger.committed++;
      if (command.type === 'RefundPayment') ledger.refunded++;
    }
  };
  record(actions);
  for (const event of events) {
    if (event.type === 'StockReserved') ledger.reserved++;
    if (event.type === 'PaymentCaptured') ledger.captured++;
    [snapshot, actions] = transition(sagaMachine, snapshot, event);
    record(actions);
  }
  for (let i = 0; options.answerUntilEnded && snapshot.context.timer && i < 20; i++) {
    const event = success(snapshot.context.timer.step, snapshot.context.timer.dueAt);
    if (event.type === 'StockReserved') ledger.reserved++;
    if (event.type === 'PaymentCaptured') ledger.captured++;
    [snapshot, actions] = transition(sagaMachine, snapshot, event);
    record(actions);
  }
  return { snapshot, ledger };
}

describe('every path of the machine (xstate/graph)', () => {
  const options = { input, events: plausibleEvents, limit: 200_000 } as const;
  // Simple paths: every acyclic way to reach every distinct (state, context).
  const paths = getSimplePaths(sagaMachine, options);

  it('reaches every state of the machine', () => {
    const reached = new Set(paths.map((p) => String(p.state.value)));
    expect([...reached].sort()).toEqual(Object.keys(sagaMachine.root.states).sort());
  });

  it('walks many paths, each through the pure machine', () => {
    console.info(`saga machine: ${paths.length} simple paths over ${new Set(paths.map((p) => JSON.stringify(p.state.value))).size} states`);
    expect(paths.length).toBeGreaterThan(100);
  });

  it("on every path the runtime's stepper gives exactly xstate's transition: state, context, commands", () => {
    const stepper = createSagaStepper();
    for (const path of paths) {
      let [expected, expectedActions] = initialTransition(sagaMachine, input);
      let [actual, actions] = stepper.initial(input);
      expect({ value: actual.value, context: actual.context, commands: commandsOf(actions) }).toEqual({
        value: expected.value,
        context: expected.context,
        commands: commandsOf(expectedActions),
      });
      for (const event of eventsOf(path)) {
        [expected, expectedActions] = transition(sagaMachine, expected, event);
        [actual, actions] = stepper.next(actual, event);
        expect({ value: actual.value, context: actual.context, commands: commandsOf(actions) }).toEqual({
          value: expected.value,
          context: expected.context,
          commands: commandsOf(expectedActions),
        });
      }
    }
  });

  it('on every path: nothing undone that was not done, nothing undone twice, stock never both sold and released', () => {
    for (const path of paths) {
      const events = eventsOf(path);
      const { snapshot, ledger } = replay(events);
      expect(snapshot.value).toEqual(path.state.value);
      const where = `${events.map((e) => e.type).join(' > ')}`;
      expect(ledger.released, where).toBeLessThanOrEqual(ledger.reserved);
      expect(ledger.refunded, where).toBeLessThanOrEqual(ledger.captured);
      expect(ledger.committed + ledger.released, where).toBeLessThanOrEqual(1);
    }
  });

  it('every path, then any input, then every service answering: ends, with stock and money balanced', () => {
    // An input the machine ignores leaves no edge in the graph, so each path is extended by
    // every plausible input (a late capture, say) before the services answer to the end.
    let checked = 0;
    for (const path of paths) {
      const prefix = eventsOf(path);
      for (const extra of [null, ...plausibleEvents(path.state as SagaSnapshot)]) {
        const events = extra ? [...prefix, extra] : prefix;
        const where = events.map((e) => e.type).join(' > ');
        const { snapshot, ledger } = replay(events, { answerUntilEnded: true });
        const status = statusOf(String(snapshot.value));
        const emails = ledger.commands.filter((c) => c.type === 'SendEmail').map((c) => c.template);
        expect(snapshot.context.timer, where).toBeNull();
        if (status === 'completed') {
          // Money captured and kept, stock sold: the order is confirmed.
          expect({ kept: ledger.captured - ledger.refunded, sold: ledger.committed, released: ledger.released }, where).toEqual({
            kept: 1,
            sold: 1,
            released: 0,
          });
          expect(emails, where).toEqual(['order-confirmed']);
        } else {
          expect(['rejected', 'cancelled'], where).toContain(status);
          // Everything that was done is undone: nothing kept, nothing held, nothing sold.
          expect({ kept: ledger.captured - ledger.refunded, held: ledger.reserved - ledger.released, sold: ledger.committed }, where).toEqual({
            kept: 0,
            held: 0,
            sold: 0,
          });
          expect(emails, where).toEqual([status === 'rejected' ? 'order-rejected' : 'order-cancelled']);
          expect(ledger.commands.some((c) => c.type === (status === 'rejected' ? 'RejectOrder' : 'CancelOrder')), where).toBe(true);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
    // Exhaustive: thousands of whole replays, seconds of CPU that a loaded machine stretches past the unit default.
  }, 60_000);

  it('on every path, with the most extreme inputs the events allow, every command the saga builds is valid', () => {
    // The widest values each source schema accepts: the saga quotes them in its own commands.
    const longest = (unit: string, max: number) => unit.repeat(Math.floor(max / unit.length));
    // Empty, the longest, and the longest in astral characters (the cut must not split a pair).
    const reasons = ['', longest('x', 500), longest('😀', 500), `${longest('x', 499)}😀`.slice(0, 500)];
    const facts: SagaInput[] = [
      {
        ...input,
        orderId: longest('o', 64) as OrderId,
        customerEmail: `${longest('a', 64)}@${longest('b', 63)}.${longest('c', 63)}.${longest('d', 57)}.com`,
        items: Array.from({ length: 50 }, (_, i) => ({ sku: `SKU-${String(i).padStart(28, '9')}`, quantity: 10_000 })) as LineItem[],
        total: Number.MAX_SAFE_INTEGER,
        paymentToken: longest('t', 200),
      },
    ];
    const extreme = (event: SagaEvent, reason: string): SagaEvent => {
      switch (event.type) {
        case 'OrderCancellationRequested':
          return { ...event, reason };
        case 'StockReservationFailed':
          return { ...event, reason: reason || 'x' };
        case 'EmailFailed':
          return { ...event, error: longest('e', 2_000) };
        default:
          return event;
      }
    };
    const invalid: string[] = [];
    let checked = 0;
    // The runtime's stepper: the same transitions as xstate's (checked above), at half the cost.
    const stepper = createSagaStepper();
    for (const sagaInput of facts) {
      for (const reason of reasons) {
        for (const path of paths) {
          let [snapshot, actions] = stepper.initial(sagaInput);
          const check = (acts: typeof actions, where: string) => {
            for (const { step, command } of commandsOf(acts)) {
              checked++;
              const parsed = commandCatalog[command.type].schema.safeParse(command.data);
              if (!parsed.success) invalid.push(`${where}: ${step} ${command.type}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
            }
          };
          check(actions, 'start');
          const events = [...eventsOf(path), ...plausibleEvents(path.state as SagaSnapshot)].map((e) => extreme(e, reason));
          for (const [i, event] of events.entries()) {
            [snapshot, actions] = stepper.next(snapshot, event);
            check(actions, `${events.slice(0, i + 1).map((e) => e.type).join(' > ')} (reason of ${reason.length})`);
          }
        }
      }
    }
    expect(invalid.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
  });

  it('what-if of a saga against its own version reproduces its recorded path exactly, on every path', () => {
    let compared = 0;
    for (const path of paths) {
      const stream = recordedStream(eventsOf(path));
      const result = whatIf(stream, v1.machine, v1.stepper);
      if (!result.ok) throw new Error(result.reason);
      const where = eventsOf(path).map((e) => e.type).join(' > ');
      expect(result.answer.replayed, where).toEqual(result.answer.original);
      expect(result.answer.divergesAt, where).toBeNull();
      expect(result.answer.original.at(-1)!.state, where).toBe(String(path.state.value));
      compared += result.answer.original.length;
    }
    expect(compared).toBeGreaterThan(paths.length * 3);
  });

  it('shortest paths reach each ending', () => {
    const shortest = getShortestPaths(sagaMachine, options);
    const endings = new Set(shortest.map((p) => String(p.state.value)).filter((s) => statusOf(s) !== 'running'));
    expect([...endings].sort()).toEqual(['cancelled', 'completed', 'rejected']);
  });
});

/** The saga stream the runtime would record for these inputs (an input that changes nothing is not recorded). */
function recordedStream(events: SagaEvent[], version = versionOrThrow(1)): RecordedEvent[] {
  const recorded: RecordedEvent[] = [];
  const store = (news: NewEvent[]) =>
    recorded.push(
      ...news.map((e, i) => ({ ...e, streamId: `saga-${orderId}`, revision: recorded.length + i, position: String(recorded.length + i).padStart(16, '0'), metadata: { ...e.metadata, schemaVersion: 1 } }) as unknown as RecordedEvent),
    );
  const [s0, a0] = version.stepper.initial(input);
  store(startedEvents(orderId, 'placed', s0, issuedCommands(orderId, commandsOf(a0)), input.startedAt, version.version));
  let record = foldSaga(orderId, recorded)!;
  for (const [i, event] of events.entries()) {
    const [next, actions] = version.stepper.next(record.snapshot, event);
    const commands = issuedCommands(orderId, commandsOf(actions));
    if (next === record.snapshot && commands.length === 0) continue;
    store(transitionEvents(record, { type: event.type, eventId: `in-${i}`, event }, next, commands, event.at));
    record = { ...record, revision: recorded.length - 1, snapshot: next, state: String(next.value) };
  }
  return recorded;
}

describe('what-if: recorded inputs against another definition', () => {
  it('a payment that timed out under v1, replayed under v2: the paths part where v2 re-sends the charge', () => {
    const events: SagaEvent[] = [
      { type: 'StockReserved', at: t(1) },
      { type: 'StepTimedOut', step: 'chargePayment', at: t(31) },
      { type: 'StockReleased', at: t(32) },
      { type: 'OrderRejected', at: t(33) },
      { type: 'EmailSent', at: t(34) },
    ];
    const result = whatIf(recordedStream(events), v2.machine);
    if (!result.ok) throw new Error(result.reason);
    expect(result.answer.original.map((p) => p.state)).toEqual(['reservingStock', 'chargingPayment', 'releasingStock', 'rejectingOrder', 'sendingRejectionEmail', 'rejected']);
    // Under v2 the timeout re-sends the charge; the replies to v1's compensations then change nothing.
    expect(result.answer.replayed).toEqual([
      { state: 'reservingStock', input: 'OrderPlaced', at: input.startedAt },
      { state: 'chargingPayment', input: 'StockReserved', at: t(1) },
      { state: 'chargingPayment', input: 'StepTimedOut', at: t(31) },
    ]);
    expect(result.answer.divergesAt).toBe(2);
    expect(result.answer.commands.map((c) => [c.at, c.type])).toEqual([
      [0, 'ReserveStock'],
      [1, 'ChargePayment'],
      [2, 'ChargePayment'],
    ]);
  });

  it('refuses a stream whose inputs were recorded before they were kept whole', () => {
    const stream = recordedStream([{ type: 'StockReserved', at: t(1) }]).map((e) =>
      e.type === 'SagaTransitioned' ? ({ ...e, data: { ...e.data, input: { type: e.data.input.type, eventId: e.data.input.eventId } } } as RecordedEvent) : e,
    );
    expect(whatIf(stream, v2.machine)).toEqual({ ok: false, reason: 'input in-0 (StockReserved) was recorded before inputs were kept whole; it cannot be replayed' });
  });

  it('replays against a definition given as data: a table whose payment retries like v2 parts where v2 does', () => {
    const rows = stepRows(sagaSteps).map((r) => (r.step === 'chargePayment' ? { ...r, retriesBeforeFail: 1 } : r));
    const result = whatIf(recordedStream([{ type: 'StockReserved', at: t(1) }, { type: 'StepTimedOut', step: 'chargePayment', at: t(31) }]), machineOfRows(rows));
    expect(result.ok && result.answer.divergesAt).toBe(2);
    expect(() => machineOfRows(stepRows(sagaSteps).map((r) => (r.step === 'confirmOrder' ? { ...r, onTimeout: 'fail' as const } : r)))).toThrow(
      'confirmOrder: only a step that may fail (reserveStock, chargePayment) can fail on timeout',
    );
  });
});
