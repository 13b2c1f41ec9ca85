import { describe, it } from 'vitest';
import type { EventData } from '@saga/event-schemas/catalog';
import type { CustomerId, OrderId, PricedLineItem, Sku } from '@saga/event-schemas/ids';
import { deciderSpec } from '../shared/decider-spec';
import { decide, type PlaceOrder } from './decide';
import { evolve, initialState, type OrderEvent } from './state';

const now = '2026-11-22T10:00:00.000Z';
const { given } = deciderSpec({ initialState, evolve, decide }, { now });

const orderId = 'order-1' as OrderId;
const alice = { id: 'alice' as CustomerId, email: 'alice@example.com' };
const items: PricedLineItem[] = [
  { sku: 'MUG-001' as Sku, name: 'Mug', quantity: 2, unitPrice: 1250 },
  { sku: 'TEE-001' as Sku, name: 'T-shirt', quantity: 1, unitPrice: 2400 },
];
const place: PlaceOrder = {
  type: 'PlaceOrder',
  data: { orderId, customer: alice, items, total: 4900, currency: 'EUR', payment: { token: 'tok_sim_approve_abc', last4: '4242' } },
};
const placedData: EventData<'OrderPlaced'> = {
  orderId,
  customerId: alice.id,
  customerEmail: 'alice@example.com',
  items,
  total: 4900,
  currency: 'EUR',
  payment: { method: 'card', token: 'tok_sim_approve_abc', last4: '4242' },
  placedAt: '2026-11-22T09:59:00.000Z',
};
const placed: OrderEvent = { type: 'OrderPlaced', data: placedData };
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { orderId, confirmedAt: now } };
const rejected: OrderEvent = { type: 'OrderRejected', data: { orderId, reason: 'payment declined', rejectedAt: now } };
const cancelled: OrderEvent = { type: 'OrderCancelled', data: { orderId, reason: 'customer asked', cancelledAt: now } };
const asAlice = { userId: 'alice', role: 'customer' } as const;

describe('order: place', () => {
  it('a new order is placed with its priced items, total and card token', () =>
    given([]).when(place).then([{ type: 'OrderPlaced', data: { ...placedData, placedAt: now } }]));

  it('placing the same order again (a retry) is a no-op returning the first result', () =>
    given([placed]).when(place).thenIgnored('AlreadyPlaced'));

  it('a retry re-tokenizes the card and re-prices, and is still the same placement', () =>
    given([placed])
      .when({ ...place, data: { ...place.data, payment: { token: 'tok_sim_approve_other', last4: '4242' }, items: [{ ...items[0]!, unitPrice: 1300 }, items[1]!], total: 5000 } })
      .thenIgnored('AlreadyPlaced'));

  it('the same order id with other items is a conflict', () =>
    given([placed])
      .when({ ...place, data: { ...place.data, items: [items[0]!], total: 2500 } })
      .thenRejected('conflict', /already exists/));

  it('the same order id from another customer is a conflict', () =>
    given([placed])
      .when({ ...place, data: { ...place.data, customer: { id: 'bob' as CustomerId, email: 'bob@example.com' } } })
      .thenRejected('conflict'));

  it('a total that is not the sum of the items is refused', () =>
    given([]).when({ ...place, data: { ...place.data, total: 1 } }).thenRejected('validation', /does not match/));
});

describe('order: saga outcomes', () => {
  it('a pending order is confirmed', () =>
    given([placed]).when({ type: 'ConfirmOrder', data: { orderId } }).then([confirmed]));

  it('confirming twice is a no-op', () =>
    given([placed, confirmed]).when({ type: 'ConfirmOrder', data: { orderId } }).thenIgnored('AlreadyConfirmed'));

  it('an order whose customer asked to cancel is not confirmed by a ConfirmOrder already in flight', () =>
    given([placed, { type: 'OrderCancellationRequested', data: { orderId, requestedAt: now } }])
      .when({ type: 'ConfirmOrder', data: { orderId } })
      .thenIgnored('CancellationRequested'));

  it('a cancelled order cannot be confirmed', () =>
    given([placed, cancelled]).when({ type: 'ConfirmOrder', data: { orderId } }).thenRejected('illegal-state', /already cancelled/));

  it('an unknown order cannot be confirmed', () =>
    given([]).when({ type: 'ConfirmOrder', data: { orderId } }).thenRejected('not-found'));

  it('a pending order is rejected with the reason', () =>
    given([placed]).when({ type: 'RejectOrder', data: { orderId, reason: 'payment declined' } }).then([rejected]));

  it('rejecting twice is a no-op', () =>
    given([placed, rejected]).when({ type: 'RejectOrder', data: { orderId, reason: 'payment declined' } }).thenIgnored('AlreadyRejected'));

  it('a confirmed order cannot be rejected', () =>
    given([placed, confirmed]).when({ type: 'RejectOrder', data: { orderId, reason: 'late' } }).thenRejected('illegal-state'));

  it('a pending order is cancelled by the saga', () =>
    given([placed, { type: 'OrderCancellationRequested', data: { orderId, requestedAt: now } }])
      .when({ type: 'CancelOrder', data: { orderId, reason: 'customer asked' } })
      .then([cancelled]));

  it('cancelling twice is a no-op', () =>
    given([placed, cancelled]).when({ type: 'CancelOrder', data: { orderId, reason: 'customer asked' } }).thenIgnored('AlreadyCancelled'));

  it('a rejected order cannot be cancelled', () =>
    given([placed, rejected]).when({ type: 'CancelOrder', data: { orderId, reason: 'customer asked' } }).thenRejected('illegal-state'));
});

describe('order: the customer asks to cancel', () => {
  const request = (requestedBy: { userId: string; role: 'customer' | 'admin' | 'service' }, reason?: string) => ({
    type: 'RequestCancellation' as const,
    data: { orderId, requestedBy, ...(reason === undefined ? {} : { reason }) },
  });

  it('the owner of a pending order asks to cancel it', () =>
    given([placed])
      .when(request(asAlice, 'changed my mind'))
      .then([{ type: 'OrderCancellationRequested', data: { orderId, reason: 'changed my mind', requestedAt: now } }]));

  it('an admin may ask to cancel any pending order', () =>
    given([placed])
      .when(request({ userId: 'admin-1', role: 'admin' }))
      .then([{ type: 'OrderCancellationRequested', data: { orderId, requestedAt: now } }]));

  it('another customer may not', () =>
    given([placed]).when(request({ userId: 'bob', role: 'customer' })).thenRejected('forbidden'));

  it('asking twice is a no-op', () =>
    given([placed, { type: 'OrderCancellationRequested', data: { orderId, requestedAt: now } }])
      .when(request(asAlice))
      .thenIgnored('CancellationAlreadyRequested'));

  it('an ended order cannot be cancelled any more', () => {
    given([placed, confirmed]).when(request(asAlice)).thenRejected('illegal-state', /already confirmed/);
    given([placed, rejected]).when(request(asAlice)).thenRejected('illegal-state', /already rejected/);
    given([placed, cancelled]).when(request(asAlice)).thenRejected('illegal-state', /already cancelled/);
  });

  it('an unknown order is not found', () => given([]).when(request(asAlice)).thenRejected('not-found'));
});

describe('order: evolve', () => {
  it('an order stays pending until the saga ends it, and keeps its details', () => {
    given([placed]).thenState({ status: 'pending', order: placedData, cancellationRequested: false });
    given([placed, { type: 'OrderCancellationRequested', data: { orderId, requestedAt: now } }]).thenState({
      status: 'pending',
      order: placedData,
      cancellationRequested: true,
    });
    given([placed, confirmed]).thenState({ status: 'confirmed', order: placedData, confirmedAt: now });
    given([placed, rejected]).thenState({ status: 'rejected', order: placedData, reason: 'payment declined', rejectedAt: now });
    given([placed, cancelled]).thenState({ status: 'cancelled', order: placedData, reason: 'customer asked', cancelledAt: now });
  });
});
