import { describe, expect, it } from 'vitest';
import type { SagaInstance } from './api';
import { timelineSummary } from './pages/OrderDetailPage';

const saga = {
  orderId: 'o1',
  state: 'rejected',
  status: 'rejected',
  flags: [],
  history: [
    { from: null, to: 'reservingStock', input: { type: 'OrderPlaced', eventId: 'e0' }, at: '2026-01-01T10:00:00.000Z', commands: [] },
    { from: 'reservingStock', to: 'chargingPayment', input: { type: 'StockReserved', eventId: 'e1' }, at: '2026-01-01T10:00:01.000Z', commands: [] },
    { from: 'chargingPayment', to: 'releasingStock', input: { type: 'PaymentDeclined', eventId: 'e2' }, at: '2026-01-01T10:00:02.000Z', commands: [] },
  ],
} as unknown as SagaInstance;

describe('order timeline summaries', () => {
  it('says where a saga step went and on what, from the saga history at that revision', () => {
    expect(timelineSummary({ at: '', type: 'SagaTransitioned', streamId: 'saga-o1', revision: 2 }, saga)).toBe('Saga: chargingPayment → releasingStock, on payment declined');
    expect(timelineSummary({ at: '', type: 'SagaStarted', streamId: 'saga-o1', revision: 0 }, saga)).toBe('Saga started in reservingStock');
    expect(timelineSummary({ at: '', type: 'SagaEnded', streamId: 'saga-o1', revision: 3 }, saga)).toBe('Saga ended: rejected');
  });
  it('writes other events as words', () => {
    expect(timelineSummary({ at: '', type: 'PaymentCaptured', streamId: 'payment-o1', revision: 1 }, saga)).toBe('Payment captured');
    expect(timelineSummary({ at: '', type: 'SagaTransitioned', streamId: 'saga-o1', revision: 2 }, undefined)).toBe('Saga transitioned');
  });
});
