import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { orderStory, record, type OrderSpec } from './fixtures';
import { given } from './projection';
import { sagasProjection, type SagaDoc } from './sagas';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();
const order: OrderSpec = {
  orderId: 'o1',
  customerId: 'alice',
  email: 'alice@example.com',
  sku: 'MUG-001',
  name: 'Mug',
  quantity: 1,
  unitPrice: 900,
  currency: 'EUR',
  t0,
};

describe('sagas projection', () => {
  it('follows a saga that ran out of stock: state, status, history with inputs, step timings', () => {
    // Log (1 ms apart): 0 OrderPlaced, 1 SagaStarted, 2 StockReservationFailed, 3 -> rejectingOrder, 4 OrderRejected,
    // 5 -> sendingRejectionEmail, 6 EmailSent, 7 -> rejected, 8 SagaEnded (appended with it: it ends at 7).
    const story = record(orderStory(order, 'out-of-stock'));
    const saga = story.filter((e) => e.streamId === 'saga-o1');
    const inputId = (n: number) => (saga[n]!.data as { input: { eventId: string } }).input.eventId;
    expect(given(sagasProjection).when(...story).documents()).toEqual({
      o1: {
        id: 'o1',
        orderId: 'o1',
        // New sagas run the newest definition.
        version: 2,
        state: 'rejected',
        status: 'rejected',
        stuck: null,
        flags: [],
        history: [
          { from: null, to: 'reservingStock', input: { type: 'OrderPlaced', eventId: (saga[0]!.data as { inputEventId: string }).inputEventId }, at: at(1), commands: ['ReserveStock'] },
          { from: 'reservingStock', to: 'rejectingOrder', input: { type: 'StockReservationFailed', eventId: inputId(1) }, at: at(3), commands: ['RejectOrder'] },
          { from: 'rejectingOrder', to: 'sendingRejectionEmail', input: { type: 'OrderRejected', eventId: inputId(2) }, at: at(5), commands: ['SendEmail'] },
          { from: 'sendingRejectionEmail', to: 'rejected', input: { type: 'EmailSent', eventId: inputId(3) }, at: at(7), commands: [] },
        ],
        steps: [
          { state: 'reservingStock', enteredAt: at(1), leftAt: at(3), durationMs: 2 },
          { state: 'rejectingOrder', enteredAt: at(3), leftAt: at(5), durationMs: 2 },
          { state: 'sendingRejectionEmail', enteredAt: at(5), leftAt: at(7), durationMs: 2 },
          { state: 'rejected', enteredAt: at(7), leftAt: at(7), durationMs: 0 },
        ],
        timer: null,
        startedAt: at(1),
        endedAt: at(7),
        durationMs: 6,
        updatedAt: at(7),
        _applied: [{ s: 'saga-o1', r: 4 }],
      },
    });
  });

  it('shows a running saga with its armed timer', () => {
    const started = record(orderStory(order, 'confirmed')).filter((e) => e.type === 'SagaStarted');
    const doc = given(sagasProjection).when(...started).documents().o1;
    // The saga started at t0 + 1 ms; the step times out 30 s later.
    expect(doc).toMatchObject({ state: 'reservingStock', status: 'running', timer: { step: 'reserveStock', dueAt: at(30_001) }, endedAt: null, durationMs: null });
  });

  it('a state that transitions to itself (a retried step) keeps one step open, and its history shows the retry', () => {
    const saga = record(orderStory(order, 'confirmed-after-retry')).filter((e) => e.streamId === 'saga-o1');
    const doc = given(sagasProjection).when(...saga).documents().o1 as SagaDoc;
    const retry = saga.find((e) => e.type === 'SagaTransitioned' && (e.data as { input: { type: string } }).input.type === 'StepTimedOut')!;
    const retriedAt = (retry.data as { at: string }).at;
    expect(doc.history.filter((h) => h.from === h.to)).toEqual([
      { from: 'confirmingOrder', to: 'confirmingOrder', input: { type: 'StepTimedOut', eventId: (retry.data as { input: { eventId: string } }).input.eventId }, at: retriedAt, commands: ['ConfirmOrder'] },
    ]);
    const confirming = doc.steps.filter((s) => s.state === 'confirmingOrder');
    expect(confirming).toHaveLength(1);
    // Entered when the capture was applied (t0 + 6 ms), re-sent at its deadline 30 s later, left when the
    // order confirmed (OrderConfirmed at + 30 007 ms, applied 1 ms later): one step, 30 002 ms long.
    expect(retriedAt).toBe(at(30_006));
    expect(confirming[0]).toEqual({ state: 'confirmingOrder', enteredAt: at(6), leftAt: at(30_008), durationMs: 30_002 });
    expect(doc.steps.map((s) => s.state)).toEqual(['reservingStock', 'chargingPayment', 'confirmingOrder', 'committingStock', 'sendingConfirmationEmail', 'completed']);
  });

  it('shows a stuck saga, the operator behind an action, and a migration with its version', () => {
    const [started] = record(orderStory(order, 'confirmed')).filter((e) => e.type === 'SagaStarted');
    const stuck = { step: 'reserveStock', reason: 'dead-lettered' as const, error: 'ZodError: bad', since: at(5) };
    const transition = (revision: number, data: Record<string, unknown>) =>
      ({ ...started!, type: 'SagaTransitioned', revision, eventId: `t${revision}`, position: `000000000000900${revision}`, data }) as unknown as RecordedEvent;
    const base = { orderId: 'o1', from: 'reservingStock', to: 'reservingStock', context: {}, timer: null, status: 'running', flags: ['commandDeadLettered'] };
    const events = [
      started!,
      transition(1, { ...base, input: { type: 'CommandDeadLettered', eventId: 'dl-1' }, commands: [], at: at(5), stuck }),
      transition(2, {
        ...base,
        input: { type: 'OperatorActed', eventId: 'op-1', event: { action: 'retry-step', operator: 'admin-1', reason: 'provider is back', at: at(6) } },
        commands: [{ commandId: 'c1', step: 'reserveStock', type: 'ReserveStock', data: {} }],
        at: at(6),
        stuck: null,
      }),
      {
        ...started!,
        type: 'SagaMigrated',
        revision: 3,
        eventId: 'm1',
        position: '0000000000009003',
        data: { orderId: 'o1', fromVersion: 2, toVersion: 3, from: 'reservingStock', to: 'reservingStock', operator: 'admin-2', reason: 'roll out', at: at(7) },
      } as unknown as RecordedEvent,
    ];
    const afterDeadLetter = given(sagasProjection).when(...events.slice(0, 2)).documents().o1!;
    expect(afterDeadLetter.stuck).toEqual(stuck);
    const doc = given(sagasProjection).when(...events).documents().o1 as SagaDoc;
    expect(doc.stuck).toBeNull();
    expect(doc.version).toBe(3);
    expect(doc.history.slice(2)).toEqual([
      { from: 'reservingStock', to: 'reservingStock', input: { type: 'OperatorActed', eventId: 'op-1' }, at: at(6), commands: ['ReserveStock'], operator: { id: 'admin-1', action: 'retry-step', reason: 'provider is back' } },
      { from: 'reservingStock', to: 'reservingStock', input: { type: 'SagaMigrated', eventId: 'm1' }, at: at(7), commands: [], operator: { id: 'admin-2', action: 'migrate to version 3', reason: 'roll out' } },
    ]);
  });

  it('changes nothing when the saga stream is redelivered', () => {
    const story = record(orderStory(order, 'confirmed'));
    const once = given(sagasProjection).when(...story).documents();
    expect(given(sagasProjection, story).when(...story).documents()).toEqual(once);
  });
});
