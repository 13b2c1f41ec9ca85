import { describe, expect, it } from 'vitest';
import { orderStory, record, type OrderSpec, type Outcome } from './fixtures';
import { given } from './projection';
import { STATS_ID, statsProjection } from './stats';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const orderOf = (orderId: string, quantity: number): OrderSpec => ({
  orderId,
  customerId: 'alice',
  email: 'alice@example.com',
  sku: 'MUG-001',
  name: 'Mug',
  quantity,
  unitPrice: 1000,
  currency: 'EUR',
  t0,
});
const stories = (...orders: [string, number, Outcome][]) =>
  record(orders.flatMap(([id, quantity, outcome]) => orderStory(orderOf(id, quantity), outcome)));

describe('stats projection', () => {
  // Saga durations from the fixtures (SagaStarted to the transition that ends it, 1 ms per event):
  // confirmed 11 ms, declined 10 ms, cancelled 15 ms, out of stock 6 ms.
  const all = stories(['a', 1, 'confirmed'], ['b', 2, 'confirmed'], ['c', 3, 'declined'], ['d', 4, 'cancelled'], ['e', 5, 'out-of-stock']);
  const expected = {
    id: STATS_ID,
    orders: { total: 5, pending: 0, confirmed: 2, rejected: 2, cancelled: 1 },
    capturedTotal: 7000,
    refundedTotal: 4000,
    confirmedTotal: 3000,
    byCurrency: { EUR: { captured: 7000, refunded: 4000, confirmed: 3000 } },
    sagas: { total: 5, running: 0, completed: 2, rejected: 2, cancelled: 1, flagged: 0 },
    sagaDurations: {
      completed: { count: 2, totalMs: 22, averageMs: 11 },
      rejected: { count: 2, totalMs: 16, averageMs: 8 },
      cancelled: { count: 1, totalMs: 15, averageMs: 15 },
    },
  };

  it('sums orders by status, money captured, refunded and confirmed, saga outcomes and durations', () => {
    const docs = given(statsProjection).when(...all).documents();
    expect(docs[STATS_ID]).toEqual(expected);
    expect(expected.capturedTotal - expected.refundedTotal).toBe(expected.confirmedTotal);
  });

  it('counts an order in flight as pending with a running saga', () => {
    const inflight = stories(['a', 1, 'confirmed']).slice(0, 6); // up to the capture
    expect(given(statsProjection).when(...inflight).documents()[STATS_ID]).toMatchObject({
      orders: { total: 1, pending: 1, confirmed: 0, rejected: 0, cancelled: 0 },
      capturedTotal: 1000,
      confirmedTotal: 0,
      sagas: { total: 1, running: 1, completed: 0, rejected: 0, cancelled: 0, flagged: 0 },
    });
  });

  it('is the same whatever order the streams interleave in, and redelivery changes no total', () => {
    const shuffled = [...all].sort((a, b) => a.streamId.localeCompare(b.streamId) || a.revision - b.revision);
    expect(given(statsProjection).when(...shuffled).documents()[STATS_ID]).toEqual(expected);
    expect(given(statsProjection, all).when(...shuffled.reverse().filter((_, i) => i % 3 === 0), ...all).documents()[STATS_ID]).toEqual(expected);
  });
});
