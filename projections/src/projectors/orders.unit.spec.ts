import { describe, expect, it } from 'vitest';
import { orderStory, positionAt, record, type OrderSpec } from './fixtures';
import { ordersProjection } from './orders';
import { given } from './projection';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();
const order: OrderSpec = {
  orderId: 'o1',
  customerId: 'alice',
  email: 'alice@example.com',
  sku: 'MUG-001',
  name: 'Mug',
  quantity: 2,
  unitPrice: 1250,
  currency: 'EUR',
  t0,
};

const placedOnly = {
  id: 'o1',
  orderId: 'o1',
  customerId: 'alice',
  customerEmail: 'alice@example.com',
  status: 'pending',
  items: [{ sku: 'MUG-001', name: 'Mug', quantity: 2, unitPrice: 1250 }],
  total: 2500,
  currency: 'EUR',
  paymentMethod: { last4: '4242' },
  reason: null,
  cancellationRequested: false,
  stock: { status: 'none', reason: null },
  payment: { status: 'none', paymentId: null, captured: 0, refunded: 0, declineReason: null },
  email: { status: 'none', template: null, attempts: 0 },
  saga: { state: null, status: null, flags: [] },
  timeline: [{ position: positionAt(1), streamId: 'order-o1', revision: 0, type: 'OrderPlaced', at: at(0) }],
  createdAt: at(0),
  updatedAt: at(0),
  lastPosition: positionAt(1),
  _applied: [{ s: 'order-o1', r: 0 }],
};

// The happy path in log order: [type, stream, revision]; event n is at positionAt(n + 1), t0 + n ms.
const happyPath: [string, string, number][] = [
  ['OrderPlaced', 'order-o1', 0],
  ['SagaStarted', 'saga-o1', 0],
  ['StockReserved', 'inventory-warehouse', 0],
  ['SagaTransitioned', 'saga-o1', 1],
  ['PaymentAuthorized', 'payment-o1', 0],
  ['PaymentCaptured', 'payment-o1', 1],
  ['SagaTransitioned', 'saga-o1', 2],
  ['OrderConfirmed', 'order-o1', 1],
  ['SagaTransitioned', 'saga-o1', 3],
  ['StockCommitted', 'inventory-warehouse', 1],
  ['SagaTransitioned', 'saga-o1', 4],
  ['EmailSent', 'email-o1', 0],
  ['SagaTransitioned', 'saga-o1', 5],
  ['SagaEnded', 'saga-o1', 6],
];

const confirmed = {
  ...placedOnly,
  status: 'confirmed',
  stock: { status: 'committed', reason: null },
  payment: { status: 'captured', paymentId: 'pay-o1', captured: 2500, refunded: 0, declineReason: null },
  email: { status: 'sent', template: 'order-confirmed', attempts: 1 },
  saga: { state: 'completed', status: 'completed', flags: [] },
  timeline: happyPath.map(([type, streamId, revision], n) => ({ position: positionAt(n + 1), streamId, revision, type, at: at(n) })),
  updatedAt: at(13),
  lastPosition: positionAt(14),
  _applied: [
    { s: 'email-o1', r: 0 },
    { s: 'inventory-warehouse', r: 1 },
    { s: 'order-o1', r: 1 },
    { s: 'payment-o1', r: 1 },
    { s: 'saga-o1', r: 6 },
  ],
};

describe('orders projection', () => {
  const story = record(orderStory(order, 'confirmed'));

  it('opens a pending order when it is placed', () => {
    expect(given(ordersProjection).when(story[0]!).documents()).toEqual({ o1: placedOnly });
  });

  it('follows the saga to a confirmed order with its payment, stock, email and timeline', () => {
    expect(given(ordersProjection).when(...story).documents()).toEqual({ o1: confirmed });
  });

  it('ends the same when the bus delivers the streams interleaved differently (each stream in order)', () => {
    const byStream = [...story].sort((a, b) => a.streamId.localeCompare(b.streamId) || a.revision - b.revision);
    expect(byStream[0]!.type).toBe('EmailSent'); // the email overtook the order: the document starts as a skeleton
    expect(given(ordersProjection).when(...byStream).documents()).toEqual({ o1: confirmed });
  });

  it('changes nothing when events are redelivered', () => {
    expect(given(ordersProjection, story).when(...story.slice(3), ...story).documents()).toEqual({ o1: confirmed });
  });

  it('records a declined payment and the rejection', () => {
    const declined = record(orderStory(order, 'declined'));
    const doc = given(ordersProjection).when(...declined).documents().o1;
    expect(doc).toMatchObject({
      status: 'rejected',
      reason: 'payment declined',
      stock: { status: 'released', reason: null },
      payment: { status: 'declined', paymentId: null, captured: 0, refunded: 0, declineReason: 'card_declined' },
      email: { status: 'sent', template: 'order-rejected', attempts: 1 },
      saga: { state: 'rejected', status: 'rejected', flags: [] },
    });
  });

  it('records a cancellation after capture with its refund', () => {
    const cancelled = record(orderStory(order, 'cancelled'));
    const doc = given(ordersProjection).when(...cancelled).documents().o1;
    expect(doc).toMatchObject({
      status: 'cancelled',
      reason: 'customer asked',
      cancellationRequested: true,
      stock: { status: 'released', reason: null },
      payment: { status: 'refunded', paymentId: 'pay-o1', captured: 2500, refunded: 2500, declineReason: null },
      saga: { state: 'cancelled', status: 'cancelled', flags: [] },
    });
  });
});
