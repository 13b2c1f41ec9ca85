import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
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
  // The machine's paths: confirmed reservingStock > chargingPayment > confirmingOrder > committingStock > sendingConfirmationEmail > completed;
  // declined via releasingStock > rejectingOrder > sendingRejectionEmail; cancelled (while confirming) via refundingPayment > releasingStock >
  // cancellingOrder > sendingCancellationEmail; out of stock straight to rejectingOrder.
  const counts = {
    total: 5,
    states: { completed: 2, rejected: 2, cancelled: 1 },
    transitions: {
      'reservingStock->chargingPayment': 4,
      'reservingStock->rejectingOrder': 1,
      'chargingPayment->confirmingOrder': 3,
      'chargingPayment->releasingStock': 1,
      'confirmingOrder->committingStock': 2,
      'confirmingOrder->refundingPayment': 1,
      'committingStock->sendingConfirmationEmail': 2,
      'sendingConfirmationEmail->completed': 2,
      'refundingPayment->releasingStock': 1,
      'releasingStock->rejectingOrder': 1,
      'releasingStock->cancellingOrder': 1,
      'rejectingOrder->sendingRejectionEmail': 2,
      'sendingRejectionEmail->rejected': 2,
      'cancellingOrder->sendingCancellationEmail': 1,
      'sendingCancellationEmail->cancelled': 1,
    },
  };
  // Every story's saga started on the newest definition, version 2.
  const expected = { id: SAGA_STATS_ID, ...counts, versions: { '2': counts } };

  it('counts every instance by its current state and every transition taken, exactly', () => {
    expect(given(sagaStatsProjection).when(...all).documents()[SAGA_STATS_ID]).toEqual(expected);
  });

  it('counts an instance in flight in the state it is in now, not in the ones it left', () => {
    const inflight = stories(['a', 'confirmed']).filter((e) => e.streamId === 'saga-a').slice(0, 3); // started, 2 moves
    const docs = given(sagaStatsProjection).when(...inflight).documents();
    const one = { total: 1, states: { confirmingOrder: 1 }, transitions: { 'reservingStock->chargingPayment': 1, 'chargingPayment->confirmingOrder': 1 } };
    expect(docs[SAGA_STATS_ID]).toEqual({ id: SAGA_STATS_ID, ...one, versions: { '2': one } });
    expect(docs.a).toMatchObject({ orderId: 'a', state: 'confirmingOrder', status: 'running' });
  });

  it('is the same in any interleaving of streams, and a redelivery changes no count', () => {
    const shuffled = [...all].sort((a, b) => a.streamId.localeCompare(b.streamId) || a.revision - b.revision);
    expect(given(sagaStatsProjection).when(...shuffled).documents()[SAGA_STATS_ID]).toEqual(expected);
    expect(given(sagaStatsProjection, all).when(...all.filter((_, i) => i % 2 === 0)).documents()[SAGA_STATS_ID]).toEqual(expected);
  });

  it('moves an instance between versions when it is migrated, and keeps one document per instance and edge', () => {
    const a = stories(['a', 'confirmed']).filter((e) => e.streamId === 'saga-a').slice(0, 2); // started, -> chargingPayment
    const migrated = {
      ...a[1]!,
      type: 'SagaMigrated',
      revision: 2,
      eventId: 'm-a',
      position: '0000000000099990',
      data: { orderId: 'a', fromVersion: 2, toVersion: 3, from: 'chargingPayment', to: 'chargingPayment', operator: 'admin', reason: '', at: '2026-01-01T10:00:01.000Z' },
    } as unknown as RecordedEvent;
    const docs = given(sagaStatsProjection).when(...a, migrated).documents();
    const one = { total: 1, states: { chargingPayment: 1 }, transitions: { 'reservingStock->chargingPayment': 1 } };
    expect(docs[SAGA_STATS_ID]).toEqual({ id: SAGA_STATS_ID, ...one, versions: { '3': one } });
    expect(docs['a|reservingStock->chargingPayment']).toMatchObject({ orderId: 'a', edge: 'reservingStock->chargingPayment', version: 2, customer: 'alice@example.com', count: 1 });
    expect(docs.a).toMatchObject({ orderId: 'a', version: 3, customer: 'alice@example.com', state: 'chargingPayment' });
  });

  it('counts a retried step as a transition to itself, on its edge document too', () => {
    const docs = given(sagaStatsProjection).when(...stories(['r', 'confirmed-after-retry'])).documents();
    expect(docs[SAGA_STATS_ID]!.transitions).toMatchObject({ 'confirmingOrder->confirmingOrder': 1, 'confirmingOrder->committingStock': 1 });
    expect(docs['r|confirmingOrder->confirmingOrder']).toMatchObject({ edge: 'confirmingOrder->confirmingOrder', count: 1 });
  });
});
