import { describe, it, expect } from 'vitest';
import { sagaDefinition } from './export';
import { sagaMachine } from './machine';

describe('saga definition export', () => {
  const def = sagaDefinition({ stepTimeoutMs: 30_000 });
  const edge = (source: string, event: string) => def.transitions.filter((t) => t.source === source && t.event === event);

  it('lists every state of the machine, with its kind, status, step and timeout', () => {
    expect(def.id).toBe('orderSaga');
    expect(def.initial).toBe('reservingStock');
    expect(def.states.map((s) => s.name).sort()).toEqual(Object.keys(sagaMachine.root.states).sort());
    expect(def.states.find((s) => s.name === 'chargingPayment')).toEqual({
      name: 'chargingPayment',
      kind: 'step',
      status: 'running',
      step: 'chargePayment',
      command: 'ChargePayment',
      pivot: false,
      timeout: { delayMs: 30_000, onTimeout: 'fail' },
    });
    expect(def.states.find((s) => s.name === 'confirmingOrder')?.pivot).toBe(true);
    expect(def.states.find((s) => s.name === 'releasingStock')?.kind).toBe('compensation');
    expect(def.states.filter((s) => s.kind === 'end').map((s) => [s.name, s.status])).toEqual([
      ['completed', 'completed'],
      ['rejected', 'rejected'],
      ['cancelled', 'cancelled'],
    ]);
  });

  it('gives each transition its event, target, guard and the commands it issues', () => {
    expect(edge('reservingStock', 'StockReserved')).toEqual([
      {
        source: 'reservingStock',
        event: 'StockReserved',
        target: 'rejectingOrder',
        guard: 'recordedAfterDeadline',
        actions: ['rollBack', 'flag', 'releaseLateReservation'],
        commands: ['ReleaseStock', 'RejectOrder'],
        kind: 'timeout',
      },
      { source: 'reservingStock', event: 'StockReserved', target: 'chargingPayment', guard: null, actions: ['recordReservation'], commands: ['ChargePayment'], kind: 'forward' },
    ]);
    expect(edge('releasingStock', 'StockReleased')).toEqual([
      { source: 'releasingStock', event: 'StockReleased', target: 'cancellingOrder', guard: 'cancelling', actions: [], commands: ['CancelOrder'], kind: 'forward' },
      { source: 'releasingStock', event: 'StockReleased', target: 'rejectingOrder', guard: null, actions: [], commands: ['RejectOrder'], kind: 'forward' },
    ]);
  });

  it('marks timeouts, retries and compensation edges', () => {
    expect(edge('chargingPayment', 'StepTimedOut')).toEqual([
      { source: 'chargingPayment', event: 'StepTimedOut', target: 'releasingStock', guard: 'timerDue', actions: ['rollBack', 'flag'], commands: ['ReleaseStock'], kind: 'timeout' },
    ]);
    expect(edge('confirmingOrder', 'StepTimedOut')).toEqual([
      { source: 'confirmingOrder', event: 'StepTimedOut', target: null, guard: 'timerDue', actions: ['retryStep'], commands: ['ConfirmOrder'], kind: 'retry' },
    ]);
    expect(edge('confirmingOrder', 'OrderCancellationRequested')).toEqual([
      { source: 'confirmingOrder', event: 'OrderCancellationRequested', target: 'refundingPayment', guard: null, actions: ['rollBack'], commands: ['RefundPayment'], kind: 'compensation' },
    ]);
    expect(def.transitions.filter((t) => t.kind === 'late-compensation')).toEqual([
      { source: '*', event: 'StockReserved', target: null, guard: 'unwantedReservation', actions: ['releaseLateReservation'], commands: ['ReleaseStock'], kind: 'late-compensation' },
      { source: '*', event: 'PaymentCaptured', target: null, guard: 'unwantedCapture', actions: ['refundLateCapture'], commands: ['RefundPayment'], kind: 'late-compensation' },
      { source: '*', event: 'PaymentRefunded', target: null, guard: 'lateRefundConfirmed', actions: ['flag'], commands: [], kind: 'late-compensation' },
      { source: '*', event: 'CommandDeadLettered', target: null, guard: null, actions: ['recordDeadLetter'], commands: [], kind: 'late-compensation' },
    ]);
  });

  it('is plain JSON and carries the step table', () => {
    expect(JSON.parse(JSON.stringify(def))).toEqual(def);
    expect(def.steps.map((s) => s.step)).toContain('reserveStock');
    expect(def.steps.find((s) => s.step === 'reserveStock')).toEqual({
      step: 'reserveStock',
      state: 'reservingStock',
      command: 'ReserveStock',
      success: 'StockReserved',
      failure: 'StockReservationFailed',
      compensation: 'releaseStock',
      onTimeout: 'fail',
      retriesBeforeFail: 0,
      lateSuccess: 'releaseLateReservation',
      pivot: false,
      skippable: false,
    });
  });
});
