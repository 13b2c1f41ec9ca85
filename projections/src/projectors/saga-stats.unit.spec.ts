import { describe, expect, it } from 'vitest';
import { orderStory, record, type OrderSpec, type Outcome } from './fixtures';
import { given } from './projection';
import { SAGA_STATS_ID, sagaStatsProjection } from './saga-stats';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const orderOf = (orderId: string): OrderSpec => ({
  orderId,
  customerId: 'alice',
  email: 'alice@example.com',
  sku: 'MUG-001',
  name: 'Mug',
  quantity: 1,
  unitPrice: 1000,
  currency: 'EUR',
  t0,
});
const stories = (...orders: [string, Outcome][]) => record(orders.flatMap(([id, outcome]) => orderStory(orderOf(id), outcome)));

describe('saga-stats projection', () => {
  const all = stories(['a', 'confirmed'], ['b', 'confirmed'], ['c', 'declined'], ['d', 'cancelled'], ['e', 'out-of-stock']);
  // The fixtures' paths: confirmed reservingStock > chargingPayment > confirmingOrder > committingStock > sendingEmail > completed;
  // declined via releasingStock > rejectingOrder; cancelled via refundingPayment > releasingStock > cancellingOrder; out of stock straight to rejectingOrder.
  const expected = {
    id: SAGA_STATS_ID,
    total: 5,
    states: { completed: 2, rejected: 2, cancelled: 1 },
    transitions: {
      'reservingStock->chargingPayment': 4,
      'reservingStock->rejectingOrder': 1,
      'chargingPayment->confirmingOrder': 2,
      'chargingPayment->releasingStock': 1,
      'chargingPayment->refundingPayment': 1,
      'confirmingOrder->committingStock': 2,
      'committingStock->sendingEmail': 2,
      'releasingStock->rejectingOrder': 1,
      'releasingStock->cancellingOrder': 1,
      'refundingPayment->releasingStock': 1,
      'rejectingOrder->sendingEmail': 2,
      'cancellingOrder->sendingEmail': 1,
      'sendingEmail->completed': 2,
      'sendingEmail->rejected': 2,
      'sendingEmail->cancelled': 1,
    },
  };

  it('counts every instance by its current state and every transition taken, exactly', () => {
    expect(given(sagaStatsProjection).when(...all).documents()[SAGA_STATS_ID]).toEqual(expected);
  });

  it('counts an instance in flight in the state it is in now, not in the ones it left', () => {
    const inflight = stories(['a', 'confirmed']).filter((e) => e.streamId === 'saga-a').slice(0, 3); // started, 2 moves
    const docs = given(sagaStatsProjection).when(...inflight).documents();
    expect(docs[SAGA_STATS_ID]).toEqual({
      id: SAGA_STATS_ID,
      total: 1,
      states: { confirmingOrder: 1 },
      transitions: { 'reservingStock->chargingPayment': 1, 'chargingPayment->confirmingOrder': 1 },
    });
    expect(docs.a).toMatchObject({ orderId: 'a', state: 'confirmingOrder', status: 'running' });
  });

  it('is the same in any interleaving of streams, and a redelivery changes no count', () => {
    const shuffled = [...all].sort((a, b) => a.streamId.localeCompare(b.streamId) || a.revision - b.revision);
    expect(given(sagaStatsProjection).when(...shuffled).documents()[SAGA_STATS_ID]).toEqual(expected);
    expect(given(sagaStatsProjection, all).when(...all.filter((_, i) => i % 2 === 0)).documents()[SAGA_STATS_ID]).toEqual(expected);
  });
});
