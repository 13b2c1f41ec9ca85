import { describe, expect, it } from 'vitest';
import { orderStory, record, type OrderSpec } from './fixtures';
import { given } from './projection';
import { sagasProjection } from './sagas';

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
    // Log: 0 OrderPlaced, 1 SagaStarted, 2 StockReservationFailed, 3 -> rejectingOrder, 4 OrderRejected,
    // 5 -> sendingEmail, 6 EmailSent, 7 -> rejected, 8 SagaEnded (each 1 ms apart).
    const story = record(orderStory(order, 'out-of-stock'));
    const saga = story.filter((e) => e.streamId === 'saga-o1');
    const inputId = (n: number) => (saga[n]!.data as { input: { eventId: string } }).input.eventId;
    expect(given(sagasProjection).when(...story).documents()).toEqual({
      o1: {
        id: 'o1',
        orderId: 'o1',
        state: 'rejected',
        status: 'rejected',
        flags: [],
        history: [
          { from: null, to: 'reservingStock', input: { type: 'OrderPlaced', eventId: (saga[0]!.data as { inputEventId: string }).inputEventId }, at: at(1), commands: ['ReserveStock'] },
          { from: 'reservingStock', to: 'rejectingOrder', input: { type: 'StockReservationFailed', eventId: inputId(1) }, at: at(3), commands: ['RejectOrder'] },
          { from: 'rejectingOrder', to: 'sendingEmail', input: { type: 'OrderRejected', eventId: inputId(2) }, at: at(5), commands: [] },
          { from: 'sendingEmail', to: 'rejected', input: { type: 'EmailSent', eventId: inputId(3) }, at: at(7), commands: [] },
        ],
        steps: [
          { state: 'reservingStock', enteredAt: at(1), leftAt: at(3), durationMs: 2 },
          { state: 'rejectingOrder', enteredAt: at(3), leftAt: at(5), durationMs: 2 },
          { state: 'sendingEmail', enteredAt: at(5), leftAt: at(7), durationMs: 2 },
          { state: 'rejected', enteredAt: at(7), leftAt: at(8), durationMs: 1 },
        ],
        timer: null,
        startedAt: at(1),
        endedAt: at(8),
        durationMs: 7,
        updatedAt: at(8),
        _applied: [{ s: 'saga-o1', r: 4 }],
      },
    });
  });

  it('shows a running saga with its armed timer', () => {
    const started = record(orderStory(order, 'confirmed')).filter((e) => e.type === 'SagaStarted');
    const doc = given(sagasProjection).when(...started).documents().o1;
    expect(doc).toMatchObject({ state: 'reservingStock', status: 'running', timer: { step: 'reserveStock', dueAt: at(30_000) }, endedAt: null, durationMs: null });
  });

  it('changes nothing when the saga stream is redelivered', () => {
    const story = record(orderStory(order, 'confirmed'));
    const once = given(sagasProjection).when(...story).documents();
    expect(given(sagasProjection, story).when(...story).documents()).toEqual(once);
  });
});
